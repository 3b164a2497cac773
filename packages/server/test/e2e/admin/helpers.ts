/** Small helpers for the admin API end-to-end tests. */
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, type TestLatch } from '../../support/latch.ts';

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are inspected field by field
  json: any;
}

/** Calls the admin listener with full control over body, content type and credentials. */
export async function adminRaw(
  t: TestLatch,
  method: string,
  path: string,
  options: { body?: string | Buffer; contentType?: string; authorization?: string | null } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = {};
  const authorization = options.authorization === undefined ? `Bearer ${ADMIN_TOKEN}` : options.authorization;
  if (authorization !== null) headers.authorization = authorization;
  if (options.contentType) headers['content-type'] = options.contentType;
  const res = await fetch(t.adminUrl + path, { method, headers, ...(options.body !== undefined ? { body: options.body } : {}) });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Sends a JSON body (any value, even one that is not an object). */
export const adminJson = (t: TestLatch, method: string, path: string, body: unknown) =>
  adminRaw(t, method, path, { body: JSON.stringify(body), contentType: 'application/json' });

/**
 * Asserts a 4xx JSON error that names the offending field: the `field` member, and the field name
 * at the start of error_description. Never a 500, never a stack trace.
 */
export function assertFieldError(res: RawResponse, field: string, options: { status?: number; error?: string } = {}): void {
  const context = `${res.status} ${res.text}`;
  assert.equal(res.status, options.status ?? 400, context);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/, context);
  assert.equal(res.json?.error, options.error ?? 'invalid_request', context);
  assert.equal(res.json?.field, field, context);
  assert.ok(String(res.json?.error_description).startsWith(`${field}`), `description names the field: ${context}`);
  assertNoStack(res);
}

/** A JSON error body without internals. */
export function assertJsonError(res: RawResponse, status: number, error: string): void {
  const context = `${res.status} ${res.text}`;
  assert.equal(res.status, status, context);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/, context);
  assert.equal(res.json?.error, error, context);
  assert.equal(typeof res.json?.error_description, 'string', context);
  assertNoStack(res);
}

export function assertNoStack(res: RawResponse): void {
  assert.doesNotMatch(res.text, /\bat .+\.(ts|js):\d+|node_modules|stack/i, 'no stack trace in the body');
}

export interface AuditEntry {
  id: number;
  actor: string;
  action: string;
  target_type: string;
  target_id: string | null;
  details: Record<string, unknown> | null;
  source_ip: string | null;
  created_at: string;
}

/** Every audit event for one target, oldest first. */
export async function auditFor(t: TestLatch, targetType: string, targetId: string): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let cursor: string | null = null;
  do {
    const params: Record<string, string> = { target_type: targetType, target_id: targetId, limit: '50' };
    if (cursor) params.cursor = cursor;
    const q: URLSearchParams = new URLSearchParams(params);
    const res: { status: number; body: { events: AuditEntry[]; next_cursor: string | null } } = await t.admin<{
      events: AuditEntry[];
      next_cursor: string | null;
    }>('GET', `/admin/v1/audit?${q}`);
    assert.equal(res.status, 200);
    out.push(...res.body.events);
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

/** Asserts the who/what/target/when/where of an audit event. */
export function assertAudit(event: AuditEntry | undefined, action: string, target: { type: string; id: string }, since: number): void {
  assert.ok(event, `an audit event for ${action}`);
  assert.equal(event.action, action);
  assert.equal(event.actor, 'admin-api');
  assert.equal(event.target_type, target.type);
  assert.equal(event.target_id, target.id);
  assert.match(event.source_ip ?? '', /^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/);
  const when = Date.parse(event.created_at);
  assert.ok(when >= since - 1000 && when <= Date.now() + 1000, `created_at ${event.created_at} is now`);
}
