/**
 * Every grant type is one module behind this interface (docs/architecture.md §9; oidc-provider's
 * lib/actions/grants/*): its `grant_type`, the parameters it reads (an allow-list: everything else
 * is stripped before it runs), which clients may use it, and `handle`, which receives only the
 * dependencies it names (fosite's per-handler storage interfaces) and returns the RFC 6749 §5.1 body.
 */
import type { AuthMethod, Client } from '../domain/client.ts';
import type { Clock } from '../domain/clock.ts';
import type { User } from '../domain/user.ts';
import type { SessionService } from '../services/sessions.ts';
import type { TokenLifetimes } from '../services/tokens.ts';
import type { Session, Storage } from '../storage/repositories.ts';

/** RFC 6749 §5.1 successful response (plus OIDC Core §3.1.3.3 `id_token`). Wire names. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope?: string;
  id_token?: string;
}

/** Port for OpenID Connect ID tokens (OIDC Core §2, §3.1.3.6); implemented in oidc/, optional. */
export interface IdTokenMinter {
  mint(input: {
    client: Client;
    session: Session;
    user: User;
    /** From the authorization request; null on refresh (OIDC Core §12.2). */
    nonce: string | null;
    /** For `at_hash` (OIDC Core §3.1.3.6). */
    accessToken: string;
    /** For `c_hash` when the code is returned with an ID token (hybrid flows). */
    code?: string;
    authTime: number | null;
    amr: string[] | null;
    acr: string | null;
  }): Promise<string>;
}

/** Everything a grant may ask for; each handler picks what it needs. */
export interface GrantDeps {
  storage: Storage;
  clock: Clock;
  lifetimes: TokenLifetimes;
  sessions: SessionService;
  idTokens: IdTokenMinter | undefined;
}

/**
 * Which authenticated clients may use a grant: `any` includes public clients (`none`), whose proof
 * is PKCE or possession of a refresh token; `confidential` requires a credential (RFC 6749 §4.4.2).
 */
export type ClientAuthRequirement = 'any' | 'confidential';

export interface TokenRequest {
  /** The authenticated client. */
  client: Client;
  authMethod: AuthMethod;
  /** Only the parameters in the handler's allow-list; empty values read as absent (RFC 6749 §3.1). */
  params: ReadonlyMap<string, string>;
  now: number;
}

export interface GrantHandler<K extends keyof GrantDeps = keyof GrantDeps> {
  readonly grantType: string;
  /** Parameters the grant reads besides grant_type and client authentication. */
  readonly parameters: readonly string[];
  readonly clientAuth: ClientAuthRequirement;
  handle(request: TokenRequest, deps: Pick<GrantDeps, K>): Promise<TokenResponse>;
}
