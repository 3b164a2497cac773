import type { AuditRepository } from '../storage/repositories.ts';

/** Who performed an admin mutation and from where (written to audit_events). */
export interface Actor {
  /** e.g. "admin-api", "cli:root", "dynamic-registration" */
  name: string;
  sourceIp: string | null;
}

export async function audit(
  repo: AuditRepository,
  actor: Actor,
  action: string,
  target: { type: string; id: string | null },
  now: number,
  details: Record<string, unknown> | null = null,
): Promise<void> {
  await repo.add({ actor: actor.name, action, targetType: target.type, targetId: target.id, details, sourceIp: actor.sourceIp, createdAt: now });
}
