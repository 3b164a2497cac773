/**
 * Words for scopes on the consent page. Pure: the configured descriptions (`scopes.descriptions`)
 * come in as a plain record.
 *
 * - An exact key wins: `"read:all": "Read everything"`.
 * - A key containing `{resource}` is a pattern: `"read:{resource}": "Read {resource}"` turns
 *   `read:syn123` into "Read syn123". With several matching patterns the most specific one (the
 *   longest fixed text) wins.
 * - Built-in words cover the OpenID Connect scopes (OIDC Core §5.4, §11); configuration may override them.
 * - Anything else is listed verbatim, so the user still sees exactly what is asked.
 */
export const BUILTIN_SCOPE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  openid: 'Sign you in with your account',
  profile: 'See your username and name',
  email: 'See your email address',
  offline_access: 'Keep access when you are not using it',
};

export interface ScopeDescription {
  scope: string;
  /** Words for the scope, or undefined when only the raw scope can be shown. */
  text: string | undefined;
}

const PLACEHOLDER = '{resource}';

export function describeScope(scope: string, configured: Readonly<Record<string, string>>): ScopeDescription {
  const exact = Object.hasOwn(configured, scope) ? configured[scope] : undefined;
  if (exact !== undefined) return { scope, text: exact };
  let best: { fixed: number; text: string } | undefined;
  for (const [key, text] of Object.entries(configured)) {
    const at = key.indexOf(PLACEHOLDER);
    if (at < 0) continue;
    const prefix = key.slice(0, at);
    const suffix = key.slice(at + PLACEHOLDER.length);
    if (scope.length <= prefix.length + suffix.length || !scope.startsWith(prefix) || !scope.endsWith(suffix)) continue;
    const resource = scope.slice(prefix.length, scope.length - suffix.length);
    const fixed = prefix.length + suffix.length;
    if (!best || fixed > best.fixed) best = { fixed, text: text.split(PLACEHOLDER).join(resource) };
  }
  if (best) return { scope, text: best.text };
  const builtin = Object.hasOwn(BUILTIN_SCOPE_DESCRIPTIONS, scope) ? BUILTIN_SCOPE_DESCRIPTIONS[scope] : undefined;
  return { scope, text: builtin };
}

export function describeScopes(scopes: readonly string[], configured: Readonly<Record<string, string>>): ScopeDescription[] {
  return scopes.map((s) => describeScope(s, configured));
}
