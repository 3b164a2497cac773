/**
 * Scope rules, RFC 6749 §3.3:
 *   scope       = scope-token *( SP scope-token )
 *   scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
 * A client's allowed set may contain prefix patterns ending in `*` (e.g. `read:*`), so the client may
 * request `read:syn123` without registering every resource.
 */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
export const MAX_SCOPE_LENGTH = 2000;

/** Parses a scope string; returns undefined when the syntax is invalid. Duplicates are folded. */
export function parseScope(value: string | undefined): string[] | undefined {
  if (value === undefined) return [];
  if (value.length > MAX_SCOPE_LENGTH) return undefined;
  if (value === '') return [];
  const tokens = value.split(' ');
  const out: string[] = [];
  for (const token of tokens) {
    if (!SCOPE_TOKEN.test(token)) return undefined;
    if (!out.includes(token)) out.push(token);
  }
  return out;
}

export function isValidScopeString(value: string): boolean {
  return parseScope(value) !== undefined;
}

export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ');
}

/** True when `requested` is allowed by one entry of `allowed` (exact, or a `prefix*` pattern). */
export function scopeAllowed(requested: string, allowed: readonly string[]): boolean {
  for (const entry of allowed) {
    if (entry === requested) return true;
    if (entry.endsWith('*') && requested.length > entry.length - 1 && requested.startsWith(entry.slice(0, -1))) return true;
  }
  return false;
}

/** The requested scopes that the allowed set does not cover. */
export function disallowedScopes(requested: readonly string[], allowed: readonly string[]): string[] {
  return requested.filter((s) => !scopeAllowed(s, allowed));
}

/** Every scope in `subset` is in `superset` (exact match: consent and refresh narrowing). */
export function isSubset(subset: readonly string[], superset: readonly string[]): boolean {
  return subset.every((s) => superset.includes(s));
}

/** The scopes a client receives when it asks for none: its allowed set without patterns (RFC 6749 §3.3 default). */
export function defaultScopes(allowed: readonly string[]): string[] {
  return allowed.filter((s) => !s.endsWith('*'));
}

/** Same set, order ignored. */
export function sameScopes(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && isSubset(a, b);
}
