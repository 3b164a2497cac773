/**
 * The authorization endpoint's use case (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1.2): validate the
 * request, find out whether the user must sign in or consent, and finally issue a code.
 *
 * Errors before the client and its redirect URI are verified are thrown as OAuthError and shown to
 * the user (RFC 6749 §4.1.2.1: never redirected); everything after that becomes an error response
 * to the client's redirect URI.
 */
import { verifyAgainstDummy, verifyPassword } from '../crypto/password.ts';
import { mintToken } from '../crypto/random.ts';
import {
  type AuthorizationRequest,
  type AuthorizationResponse,
  consentNeeded,
  errorResponse,
  loginNeeded,
  type ParamSource,
  parseAuthorizationRequest,
  type ResponseTarget,
  readClientId,
  readResponseTarget,
  successResponse,
} from '../domain/authorization-request.ts';
import type { Client } from '../domain/client.ts';
import type { Clock } from '../domain/clock.ts';
import { invalidRequest, OAuthError } from '../domain/errors.ts';
import { resolveRedirectUri } from '../domain/redirect-uri.ts';
import { describeScopes, type ScopeDescription } from '../domain/scope-descriptions.ts';
import type { IdTokenService } from '../oidc/id-token.ts';
import type { Repositories } from '../storage/repositories.ts';
import type { BrowserSessionService, CurrentBrowserSession } from './browser-sessions.ts';
import type { Interaction, InteractionSealer } from './interaction.ts';
import type { LoginThrottle } from './login-throttle.ts';

export interface ClientInfo {
  name: string;
  uri: string | undefined;
  logoUri: string | undefined;
}

export type LoginError = { kind: 'invalid_credentials' } | { kind: 'missing_fields' } | { kind: 'locked'; retryAfterSeconds: number };

/** What the HTTP layer renders or sends. */
export type AuthorizeOutcome = (
  | { kind: 'respond'; response: AuthorizationResponse }
  | { kind: 'login'; interaction: Interaction; sealed: string; client: ClientInfo; username: string | undefined; error?: LoginError }
  | { kind: 'consent'; interaction: Interaction; sealed: string; client: ClientInfo; username: string; scopes: ScopeDescription[] }
) & {
  /** A new browser-session cookie to set (after a sign-in that started a session). */
  setBrowserSession?: { value: string; maxAgeSeconds: number };
};

export interface AuthorizeDeps {
  repos: Pick<Repositories, 'clients' | 'users' | 'consents' | 'authorizationCodes'>;
  browserSessions: BrowserSessionService;
  interactions: InteractionSealer;
  throttle: LoginThrottle;
  /** Verifies ID tokens this server issued (oidc/id-token.ts). */
  idTokenHints: Pick<IdTokenService, 'verifyHint'>;
  clock: Clock;
  issuer: string;
  /** seconds */
  authorizationCodeTtl: number;
  scopeDescriptions: Readonly<Record<string, string>>;
}

/** Form fields of the login and consent pages, plus the cookies the HTTP layer read. */
export interface FormSubmission {
  interaction: string | undefined;
  csrf: string | undefined;
  csrfCookie: string | undefined;
  browserCookie: string | undefined;
}

/** Shown as an HTML page: the form cannot be trusted, so nothing is redirected. */
const formRejected = () =>
  new OAuthError('access_denied', 'The form was not sent from this site or has expired. Go back to the application and start again.', {
    extra: { status: 403 },
  });
const interactionExpired = () =>
  new OAuthError('invalid_request', 'This sign-in request has expired. Go back to the application and start again.', {
    detail: 'interaction expired',
  });

const clientInfo = (client: Client): ClientInfo => ({
  name: client.metadata.client_name ?? client.clientId,
  uri: client.metadata.client_uri,
  logoUri: client.metadata.logo_uri,
});

export class AuthorizeService {
  constructor(private readonly deps: AuthorizeDeps) {}

  /** GET/POST /oauth2/authorize. */
  async authorize(params: ParamSource, browserCookie: string | undefined): Promise<AuthorizeOutcome> {
    // RFC 6749 §4.1.2.1: if client_id or redirect_uri is missing, invalid, mismatching or unknown,
    // "the authorization server SHOULD inform the resource owner of the error and MUST NOT
    // automatically redirect the user-agent to the invalid redirection URI".
    const clientId = readClientId(params);
    const client = await this.deps.repos.clients.lookup(clientId);
    if (!client) throw new OAuthError('invalid_request', 'The client_id is not known to this server.', { detail: 'unknown client' });
    if (params.duplicates.includes('redirect_uri')) throw invalidRequest('redirect_uri was sent more than once.');
    const redirect = resolveRedirectUri(params.get('redirect_uri'), client.metadata);
    if (!redirect.ok) throw invalidRequest(redirect.reason);

    // From here on errors go back to the client.
    const target = readResponseTarget(params, redirect.redirectUri);
    let request: AuthorizationRequest;
    let hintSubject: string | undefined;
    try {
      request = parseAuthorizationRequest(params, client, { ...target, redirectUriSent: redirect.sent });
      if (request.idTokenHint !== undefined) hintSubject = await this.verifyIdTokenHint(request.idTokenHint, client.clientId);
    } catch (err) {
      if (err instanceof OAuthError) return this.fail(target, err);
      throw err;
    }
    const current = await this.deps.browserSessions.current(browserCookie);
    return this.proceed(request, client, hintSubject, current, { freshLogin: false });
  }

  /** POST /oauth2/login: check the credentials, then continue the interaction. */
  async signIn(form: FormSubmission & { username: string | undefined; password: string | undefined; ip: string }): Promise<AuthorizeOutcome> {
    const interaction = this.openForm(form, 'login');
    const client = await this.clientOf(interaction);
    const username = form.username?.trim() ?? '';
    const password = form.password ?? '';
    const again = (error: LoginError): AuthorizeOutcome => ({
      kind: 'login',
      interaction,
      sealed: this.deps.interactions.seal(interaction),
      client: clientInfo(client),
      username: username || undefined,
      error,
    });
    if (username === '' || password === '') return again({ kind: 'missing_fields' });

    const subject = { ip: form.ip, username };
    const locked = await this.deps.throttle.retryAfter(subject);
    if (locked > 0) return again({ kind: 'locked', retryAfterSeconds: locked });

    const user = username.length <= 256 ? await this.deps.repos.users.findByUsername(username) : undefined;
    // Unknown users and users without a password cost the same argon2 verification as real ones,
    // so response times do not reveal which usernames exist.
    const passwordOk = user?.passwordHash && password.length <= 1024 ? await verifyPassword(user.passwordHash, password) : await verifyAgainstDummy(password);
    if (!user || !passwordOk || user.deactivatedAt !== null) {
      await this.deps.throttle.recordFailure(subject);
      const nowLocked = await this.deps.throttle.retryAfter(subject);
      return again(nowLocked > 0 ? { kind: 'locked', retryAfterSeconds: nowLocked } : { kind: 'invalid_credentials' });
    }

    const existing = await this.deps.browserSessions.current(form.browserCookie);
    const signedIn = await this.deps.browserSessions.signIn(user, existing?.session, ['pwd']);
    const outcome = await this.proceed(interaction.request, client, interaction.hintSubject, { session: signedIn.session, user }, { freshLogin: true });
    return signedIn.cookie ? { ...outcome, setBrowserSession: signedIn.cookie } : outcome;
  }

  /** POST /oauth2/consent: the user's decision. */
  async decide(form: FormSubmission & { decision: string | undefined }): Promise<AuthorizeOutcome> {
    const interaction = this.openForm(form, 'consent');
    const client = await this.clientOf(interaction);
    const request = interaction.request;
    const target = { redirectUri: request.redirectUri, responseMode: request.responseMode, state: request.state };
    // The decision counts only in the browser session that was shown the page, for the same user.
    const current = await this.deps.browserSessions.current(form.browserCookie);
    if (!current || !interaction.signedIn || current.session.id !== interaction.signedIn.browserSessionId || current.user.id !== interaction.signedIn.userId) {
      throw new OAuthError('access_denied', 'You are no longer signed in as the user who was asked. Go back to the application and start again.', {
        extra: { status: 403 },
      });
    }
    if (form.decision === 'deny') {
      // RFC 6749 §4.1.2.1: "access_denied: The resource owner or authorization server denied the request."
      return this.fail(target, new OAuthError('access_denied', 'The user denied the request.'));
    }
    if (form.decision !== 'allow') throw invalidRequest('Choose Allow or Deny.');
    await this.deps.repos.consents.grant(current.user.id, client.clientId, request.scope, this.deps.clock());
    return this.issue(request, current);
  }

  private async proceed(
    request: AuthorizationRequest,
    client: Client,
    hintSubject: string | undefined,
    current: CurrentBrowserSession | undefined,
    facts: { freshLogin: boolean },
  ): Promise<AuthorizeOutcome> {
    const target: ResponseTarget = { redirectUri: request.redirectUri, responseMode: request.responseMode, state: request.state };
    const now = this.deps.clock();
    const signedIn = current && { userId: current.user.id, authTime: current.session.authenticatedAt };
    const reason = loginNeeded(request, signedIn, { now, freshLogin: facts.freshLogin, hintSubject });
    if (reason !== undefined || !current) {
      // OIDC Core §3.1.2.6: with prompt=none the server "MUST NOT display any authentication or
      // consent user interface pages"; login_required when the user would have to sign in.
      if (request.prompt.includes('none')) return this.fail(target, new OAuthError('login_required', 'The user must sign in.', { detail: reason }));
      const interaction = this.deps.interactions.create('login', { request, hintSubject });
      return {
        kind: 'login',
        interaction,
        sealed: this.deps.interactions.seal(interaction),
        client: clientInfo(client),
        username: request.loginHint,
      };
    }

    const remembered = client.skipConsent ? undefined : await this.deps.repos.consents.lookup(current.user.id, client.clientId);
    if (consentNeeded(request, client, remembered?.scope)) {
      if (request.prompt.includes('none')) return this.fail(target, new OAuthError('consent_required', 'The user must consent to this request.'));
      const interaction = this.deps.interactions.create('consent', {
        request,
        hintSubject,
        signedIn: { userId: current.user.id, browserSessionId: current.session.id },
      });
      return {
        kind: 'consent',
        interaction,
        sealed: this.deps.interactions.seal(interaction),
        client: clientInfo(client),
        username: current.user.username,
        scopes: describeScopes(request.scope, this.deps.scopeDescriptions),
      };
    }
    return this.issue(request, current);
  }

  /** RFC 6749 §4.1.2: a single-use code; only its SHA-256 is stored. */
  private async issue(request: AuthorizationRequest, current: CurrentBrowserSession): Promise<AuthorizeOutcome> {
    const now = this.deps.clock();
    const minted = mintToken('ac');
    await this.deps.repos.authorizationCodes.add({
      hash: minted.hash,
      clientId: request.clientId,
      userId: current.user.id,
      browserSessionId: current.session.id,
      redirectUri: request.redirectUri,
      redirectUriSent: request.redirectUriSent,
      scope: request.scope,
      codeChallenge: request.codeChallenge ?? null,
      codeChallengeMethod: request.codeChallengeMethod ?? null,
      nonce: request.nonce ?? null,
      authTime: current.session.authenticatedAt,
      amr: current.session.amr,
      acr: current.session.acr,
      createdAt: now,
      expiresAt: now + this.deps.authorizationCodeTtl * 1000,
    });
    await this.deps.browserSessions.touch(current.session);
    const target = { redirectUri: request.redirectUri, responseMode: request.responseMode, state: request.state };
    return { kind: 'respond', response: successResponse(target, minted.token, this.deps.issuer) };
  }

  private fail(target: ResponseTarget, error: OAuthError): AuthorizeOutcome {
    return { kind: 'respond', response: errorResponse(target, error, this.deps.issuer) };
  }

  /** Opens the sealed interaction of a submitted form and checks its CSRF token. */
  private openForm(form: FormSubmission, stage: Interaction['stage']): Interaction {
    const opened = this.deps.interactions.open(form.interaction, stage);
    if (opened === 'expired') throw interactionExpired();
    if (opened === 'invalid') throw formRejected();
    if (!this.deps.interactions.verifyCsrf(form.csrfCookie, opened.id, form.csrf)) throw formRejected();
    return opened;
  }

  /** The interaction's client, which may have been deleted meanwhile. */
  private async clientOf(interaction: Interaction): Promise<Client> {
    const client = await this.deps.repos.clients.lookup(interaction.request.clientId);
    if (!client) throw new OAuthError('invalid_request', 'The application is no longer registered.', { detail: 'client deleted during interaction' });
    return client;
  }

  /**
   * OIDC Core §3.1.2.1 id_token_hint: an ID token this server issued to this client, "passed as a
   * hint about the End-User's current or past authenticated session". It may have expired (the spec
   * expects that: "SHOULD NOT return an error when the ID Token ... has expired"). Returns its `sub`.
   */
  private async verifyIdTokenHint(hint: string, clientId: string): Promise<string> {
    const result = await this.deps.idTokenHints.verifyHint(hint, { expiredGraceMs: Number.POSITIVE_INFINITY });
    if (!result.ok || !result.hint.aud.includes(clientId)) {
      throw invalidRequest('id_token_hint is not a valid ID token issued by this server for this client.');
    }
    return result.hint.sub;
  }
}
