/**
 * OpenID Connect RP-Initiated Logout 1.0: the `end_session_endpoint`.
 *
 * A relying party sends the browser here (GET or form POST, §2) with `id_token_hint`, `client_id`,
 * `post_logout_redirect_uri` and `state`. Ending the SSO browser session ends every session (device)
 * it started, each through the session service so that back-channel logout tokens are queued in the
 * same transaction (Back-Channel Logout §2.7, docs/architecture.md §4).
 *
 * When the request can be trusted as it is — a valid `id_token_hint` for the user of this browser
 * session, naming a session this browser session started — the logout happens at once. Otherwise the
 * End-User confirms with a **Sign out** button (§2: "the OP SHOULD ask the End-User whether to log
 * out"; a logout link on another site must not sign people out by itself).
 */
import type { Client } from '../domain/client.ts';
import type { Clock } from '../domain/clock.ts';
import { OAuthError } from '../domain/errors.ts';
import type { BrowserSessionService, CurrentBrowserSession } from '../services/browser-sessions.ts';
import type { ClientRepository, FinishReason, Repositories, Session, SessionRepository } from '../storage/repositories.ts';
import type { IdTokenHint, IdTokenService } from './id-token.ts';

/** How long after its `exp` an `id_token_hint` is still accepted when its session is unknown (see `verifyHint`). */
export const HINT_EXPIRED_GRACE_MS = 3600_000;

export interface LogoutParams {
  idTokenHint?: string | undefined;
  clientId?: string | undefined;
  postLogoutRedirectUri?: string | undefined;
  state?: string | undefined;
}

export type LogoutOutcome =
  | {
      kind: 'confirm';
      /** The validated request, to carry through the confirmation form. */
      params: LogoutParams;
      client: { name: string } | undefined;
      /** Who is signed in in this browser, when anyone is. */
      username: string | undefined;
    }
  | {
      kind: 'done';
      /** The validated post-logout redirect (with `state`), or undefined to show the signed-out page. */
      redirectTo: string | undefined;
      client: { name: string } | undefined;
      /** Sessions ended by this request. */
      ended: number;
    };

export interface LogoutDeps {
  repos: { clients: Pick<ClientRepository, 'lookup'>; sessions: Pick<SessionRepository, 'findBySid' | 'listActiveByBrowserSession'> };
  transaction<T>(work: (repos: Repositories) => Promise<T>): Promise<T>;
  browserSessions: Pick<BrowserSessionService, 'current'>;
  idTokens: Pick<IdTokenService, 'verifyHint'>;
  /** The session service's `end` (A's SessionService): finishes a session, revokes its tokens, emits its events. */
  endSession(repos: Repositories, session: Session, reason: FinishReason, now: number): Promise<boolean>;
  clock: Clock;
}

/** An error page, never a redirect: the redirect target cannot be trusted (§3). */
const logoutError = (description: string, detail?: string) => new OAuthError('invalid_request', description, detail ? { detail } : {});

interface Validated {
  params: LogoutParams;
  hint: IdTokenHint | undefined;
  client: Client | undefined;
  redirectTo: string | undefined;
}

export class LogoutService {
  constructor(private readonly deps: LogoutDeps) {}

  /** GET/POST /oauth2/logout from the relying party. */
  async request(params: LogoutParams, browserCookie: string | undefined): Promise<LogoutOutcome> {
    const v = await this.validate(params);
    const current = await this.deps.browserSessions.current(browserCookie);
    const hinted = v.hint?.sid ? await this.deps.repos.sessions.findBySid(v.hint.sid) : undefined;
    const hintedActive = hinted && hinted.finishedAt === null && hinted.userId === v.hint?.sub ? hinted : undefined;
    if (!current && !hintedActive) {
      // Nobody is signed in here and nothing the hint names is still running: nothing to end.
      return { kind: 'done', redirectTo: v.redirectTo, client: display(v.client), ended: 0 };
    }
    // Trusted as-is: the hint is for this browser's user and names a session this browser session started.
    const trusted = current !== undefined && v.hint !== undefined && v.hint.sub === current.user.id && hinted?.browserSessionId === current.session.id;
    if (trusted) return this.perform(v, current, hintedActive);
    return { kind: 'confirm', params: v.params, client: display(v.client), username: current?.user.username };
  }

  /** POST of the confirmation form (its CSRF token already checked by the HTTP layer). */
  async confirm(params: LogoutParams, browserCookie: string | undefined): Promise<LogoutOutcome> {
    const v = await this.validate(params);
    const current = await this.deps.browserSessions.current(browserCookie);
    const hinted = v.hint?.sid ? await this.deps.repos.sessions.findBySid(v.hint.sid) : undefined;
    // The hinted session is ended too when it belongs to whoever is signed in here (or nobody is).
    const hintedActive =
      hinted && hinted.finishedAt === null && hinted.userId === v.hint?.sub && (!current || current.user.id === hinted.userId) ? hinted : undefined;
    return this.perform(v, current, hintedActive);
  }

  private async perform(v: Validated, current: CurrentBrowserSession | undefined, hinted: Session | undefined): Promise<LogoutOutcome> {
    const now = this.deps.clock();
    const ended = await this.deps.transaction(async (repos) => {
      let count = 0;
      const seen = new Set<number>();
      const end = async (s: Session) => {
        if (seen.has(s.id)) return;
        seen.add(s.id);
        if (await this.deps.endSession(repos, s, 'logout', now)) count++;
      };
      if (current) {
        await repos.browserSessions.finish(current.session.id, now);
        for (const s of await repos.sessions.listActiveByBrowserSession(current.session.id)) await end(s);
      }
      if (hinted) await end(hinted);
      return count;
    });
    return { kind: 'done', redirectTo: v.redirectTo, client: display(v.client), ended };
  }

  /** §2 request parameters and §3 redirection rules. */
  private async validate(params: LogoutParams): Promise<Validated> {
    let hint: IdTokenHint | undefined;
    if (params.idTokenHint !== undefined) {
      const result = await this.deps.idTokens.verifyHint(params.idTokenHint, { expiredGraceMs: Number.POSITIVE_INFINITY });
      if (!result.ok) throw logoutError('The id_token_hint is not a valid ID token issued by this server.', result.reason);
      hint = result.hint;
      // An expired hint is accepted within a grace, or beyond it while the session it names is known
      // here: §2 "The OP SHOULD accept ID Tokens when the RP identified by the ID Token's aud claim
      // and/or sid claim has a current session or had a recent session at the OP, even when the exp
      // time has passed."
      if (hint.exp * 1000 + HINT_EXPIRED_GRACE_MS <= this.deps.clock()) {
        const session = hint.sid ? await this.deps.repos.sessions.findBySid(hint.sid) : undefined;
        if (!session || session.userId !== hint.sub || !hint.aud.includes(session.clientId)) {
          throw logoutError('The id_token_hint has expired. Sign out from the application again.', 'hint expired beyond grace');
        }
      }
    }
    let clientId = params.clientId;
    if (clientId !== undefined && hint && !hint.aud.includes(clientId)) {
      // §2: "the OP MUST verify that the Client Identifier matches the one used when issuing the ID Token".
      throw logoutError('The client_id does not match the id_token_hint.', 'client_id not in hint aud');
    }
    if (clientId === undefined && hint?.aud.length === 1) clientId = hint.aud[0];
    const client = clientId !== undefined ? await this.deps.repos.clients.lookup(clientId) : undefined;
    if (params.clientId !== undefined && !client) throw logoutError('The client_id is not known to this server.', 'unknown client');

    let redirectTo: string | undefined;
    if (params.postLogoutRedirectUri !== undefined) {
      // §3: the target must have been registered, and the OP MUST NOT redirect unless it knows which RP is asking.
      if (!client) throw logoutError('post_logout_redirect_uri needs client_id or id_token_hint to identify the application.', 'no client for redirect');
      if (!(client.metadata.post_logout_redirect_uris ?? []).includes(params.postLogoutRedirectUri)) {
        throw logoutError('The post_logout_redirect_uri is not registered for this application.', 'unregistered post_logout_redirect_uri');
      }
      redirectTo = withState(params.postLogoutRedirectUri, params.state);
    }
    return { params, hint, client, redirectTo };
  }
}

const display = (client: Client | undefined) => (client ? { name: client.metadata.client_name ?? client.clientId } : undefined);

/** §3: "state ... passed ... as a query parameter" to the post-logout redirect URI, keeping its own query. */
function withState(uri: string, state: string | undefined): string {
  if (state === undefined) return uri;
  const url = new URL(uri);
  url.searchParams.append('state', state);
  return url.href;
}

/** Reads the §2 parameters; duplicated parameters are refused like elsewhere (RFC 6749 §3.1 spirit). */
export function readLogoutParams(get: (name: string) => string | undefined, duplicates: readonly string[]): LogoutParams {
  for (const name of ['id_token_hint', 'client_id', 'post_logout_redirect_uri', 'state']) {
    if (duplicates.includes(name)) throw logoutError(`${name} was sent more than once.`);
  }
  const tooLong = (name: string, max: number) => {
    const v = get(name);
    if (v !== undefined && v.length > max) throw logoutError(`${name} is too long.`);
    return v;
  };
  return {
    idTokenHint: tooLong('id_token_hint', 8192),
    clientId: tooLong('client_id', 200),
    postLogoutRedirectUri: tooLong('post_logout_redirect_uri', 2000),
    state: tooLong('state', 2000),
  };
}
