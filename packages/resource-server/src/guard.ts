/**
 * The framework-neutral part of every middleware: reads the bearer token (RFC 6750 §2), asks the
 * introspector, checks scopes and audience, and says what to answer. The adapters only translate
 * requests and replies.
 *
 * RFC 6750 §3: a request without a token gets 401 and a challenge without an error code; an
 * invalid, expired or revoked token 401 `invalid_token`; missing scopes 403 `insufficient_scope`
 * with the scopes needed. Latch unreachable: 503, never "allow".
 */
import { AuthorityUnavailableError } from './errors.ts';
import type { Introspector } from './introspector.ts';
import type { ActivePrincipal } from './principal.ts';

export interface RouteRequirements {
  /**
   * Scopes the token must carry, all of them. An entry ending in `*` is a prefix pattern:
   * `read:*` is satisfied by any scope starting with `read:` (e.g. `read:notes`).
   */
  scopes?: readonly string[];
}

export interface GuardOptions {
  introspector: Introspector;
  /** `realm` of the WWW-Authenticate challenges (RFC 6750 §3). */
  realm?: string;
  /**
   * This API's resource identifier (RFC 8707). When set, a token's `aud` must contain it; a token
   * without `aud` is refused.
   */
  audience?: string;
  /** RFC 6750 §2.2 form body parameter `access_token` (off by default). */
  allowBodyToken?: boolean;
  /** RFC 6750 §2.3 query parameter `access_token` (off by default: it ends up in logs). */
  allowQueryToken?: boolean;
}

/** The parts of a request the guard looks at. */
export interface BearerRequest {
  authorization: string | undefined;
  /** The parsed query, when query tokens are allowed. */
  query?: { get(name: string): string | null } | undefined;
  /** The parsed `application/x-www-form-urlencoded` body, when body tokens are allowed. */
  form?: { get(name: string): string | null } | undefined;
}

export interface Refusal {
  ok: false;
  status: 401 | 400 | 403 | 503;
  headers: Record<string, string>;
  body: { error?: string; error_description: string; scope?: string };
}

export type GuardResult = { ok: true; principal: ActivePrincipal } | Refusal;

/** RFC 6750 §2.1: `Bearer` (any case), one or more spaces, a b64token. */
const BEARER = /^Bearer +(\S+) *$/i;

export function satisfies(granted: ReadonlySet<string>, required: string): boolean {
  if (!required.endsWith('*')) return granted.has(required);
  const prefix = required.slice(0, -1);
  for (const s of granted) if (s.startsWith(prefix) && s.length > prefix.length) return true;
  return false;
}

/** RFC 6750 §3: auth-param values are quoted-strings; `"` and `\` are not allowed in them by §3 anyway. */
const quote = (value: string) => `"${value.replace(/["\\]/g, '')}"`;

export class Guard {
  private readonly realm: string;

  constructor(private readonly options: GuardOptions) {
    this.realm = options.realm ?? 'api';
  }

  /** Whether adapters need to hand over the query / form (parsing them costs time on every request). */
  get readsQuery(): boolean {
    return this.options.allowQueryToken === true;
  }

  get readsForm(): boolean {
    return this.options.allowBodyToken === true;
  }

  async check(req: BearerRequest, requirements: RouteRequirements = {}): Promise<GuardResult> {
    const result = await this.evaluate(req, requirements);
    this.options.introspector.metrics.request?.(
      result.ok ? 'allowed' : result.status === 403 ? 'forbidden' : result.status === 503 ? 'unavailable' : 'unauthorized',
    );
    return result;
  }

  private async evaluate(req: BearerRequest, requirements: RouteRequirements): Promise<GuardResult> {
    const found = this.token(req);
    if (found.kind === 'none') return this.refuse(401, undefined, 'A Bearer access token is required.');
    if (found.kind === 'ambiguous') return this.refuse(400, 'invalid_request', 'Use exactly one way of sending the access token (RFC 6750 §2).');
    if (found.kind !== 'found') return this.refuse(401, 'invalid_token', 'The access token is malformed.');
    let principal: Awaited<ReturnType<Introspector['introspect']>>;
    try {
      principal = await this.options.introspector.introspect(found.token);
    } catch (err) {
      if (!(err instanceof AuthorityUnavailableError)) throw err;
      return {
        ok: false,
        status: 503,
        headers: { 'retry-after': '5', 'cache-control': 'no-store' },
        body: { error: 'temporarily_unavailable', error_description: 'The access token cannot be checked right now.' },
      };
    }
    if (!principal.active) return this.refuse(401, 'invalid_token', 'The access token is invalid, expired or revoked.');
    const audience = this.options.audience;
    if (audience !== undefined && !principal.aud.includes(audience)) {
      return this.refuse(401, 'invalid_token', 'The access token is not meant for this resource.');
    }
    const missing = (requirements.scopes ?? []).filter((s) => !satisfies(principal.scope, s));
    if (missing.length > 0) return this.refuse(403, 'insufficient_scope', 'The access token lacks a required scope.', (requirements.scopes ?? []).join(' '));
    return { ok: true, principal };
  }

  private token(req: BearerRequest): { kind: 'none' | 'ambiguous' | 'malformed' } | { kind: 'found'; token: string } {
    const candidates: string[] = [];
    let malformed = false;
    if (req.authorization !== undefined) {
      const m = BEARER.exec(req.authorization);
      // Another scheme (Basic, DPoP…) is not a bearer token at all: treated as none (RFC 6750 §3.1).
      if (m) candidates.push(m[1] as string);
      else if (/^Bearer\b/i.test(req.authorization)) malformed = true;
    }
    if (this.options.allowBodyToken) {
      const t = req.form?.get('access_token');
      if (t != null) candidates.push(t);
    }
    if (this.options.allowQueryToken) {
      const t = req.query?.get('access_token');
      if (t != null) candidates.push(t);
    }
    if (candidates.length > 1 || (malformed && candidates.length > 0)) return { kind: 'ambiguous' };
    if (malformed) return { kind: 'malformed' };
    const token = candidates[0];
    return token === undefined ? { kind: 'none' } : { kind: 'found', token };
  }

  private refuse(status: 400 | 401 | 403, error: string | undefined, description: string, scope?: string): Refusal {
    const params = [`realm=${quote(this.realm)}`];
    if (error) params.push(`error=${quote(error)}`, `error_description=${quote(description)}`);
    if (scope) params.push(`scope=${quote(scope)}`);
    return {
      ok: false,
      status,
      headers: { 'www-authenticate': `Bearer ${params.join(', ')}`, 'cache-control': 'no-store' },
      body: { ...(error ? { error } : {}), error_description: description, ...(scope ? { scope } : {}) },
    };
  }
}

export function createGuard(options: GuardOptions): Guard {
  return new Guard(options);
}
