/** The table of grant handlers keyed by `grant_type` (oidc-provider's lib/actions/grants/index.js). */
import type { GrantDeps, GrantHandler } from './types.ts';

export class GrantRegistry {
  private readonly table = new Map<string, GrantHandler>();

  /** Adds a grant; a second handler for the same grant_type is a programming error. */
  register<K extends keyof GrantDeps>(handler: GrantHandler<K>): this {
    if (this.table.has(handler.grantType)) throw new Error(`grant type ${handler.grantType} is already registered`);
    this.table.set(handler.grantType, handler as GrantHandler);
    return this;
  }

  lookup(grantType: string): GrantHandler | undefined {
    return this.table.get(grantType);
  }

  /** For discovery's `grant_types_supported` (RFC 8414 §2). */
  grantTypes(): string[] {
    return [...this.table.keys()];
  }
}
