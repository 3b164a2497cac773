/**
 * The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1) as pure rules:
 * parameter parsing and validation, the login/consent decision, and the shape of the response.
 * No I/O: the service looks things up and hands the facts in.
 */
import { type Client, isPublicClient } from './client.ts';
import { invalidRequest, OAuthError } from './errors.ts';
import { defaultScopes, disallowedScopes, isSubset, parseScope } from './scope.ts';

/** What the parser needs from a parameter source (query string or form body). */
export interface ParamSource {
  /** Empty values count as omitted (RFC 6749 §3.1). */
  get(name: string): string | undefined;
  /** Names that appeared more than once. */
  readonly duplicates: readonly string[];
}

export const RESPONSE_MODES = ['query', 'fragment', 'form_post'] as const;
export type ResponseMode = (typeof RESPONSE_MODES)[number];
export const PROMPT_VALUES = ['none', 'login', 'consent'] as const;
export type Prompt = (typeof PROMPT_VALUES)[number];
export const CODE_CHALLENGE_METHODS = ['S256'] as const;

/** Scopes a client may request when its registration names none (RFC 7591 §2 lets the server choose). */
export const DEFAULT_ALLOWED_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;

/** Upper bounds for parameter values: generous for real clients, small enough to keep pages and rows bounded. */
export const MAX_LENGTH = { default: 2048, idTokenHint: 8192, loginHint: 256 } as const;

export interface AuthorizationRequest {
  clientId: string;
  /** The URI the response goes to: the one sent, or the single registered one. */
  redirectUri: string;
  /** RFC 6749 §4.1.3: when sent here, the token request must repeat it. */
  redirectUriSent: boolean;
  responseMode: ResponseMode;
  scope: string[];
  state: string | undefined;
  nonce: string | undefined;
  codeChallenge: string | undefined;
  codeChallengeMethod: 'S256' | undefined;
  prompt: Prompt[];
  /** Seconds (OIDC Core §3.1.2.1). */
  maxAge: number | undefined;
  loginHint: string | undefined;
  /** Raw id_token_hint; the service verifies it (signature needs keys) and records the subject. */
  idTokenHint: string | undefined;
}

/** Where an error can be sent once the client and redirect URI are verified. */
export interface ResponseTarget {
  redirectUri: string;
  responseMode: ResponseMode;
  state: string | undefined;
}

const tooLong = (value: string | undefined, max: number) => value !== undefined && value.length > max;

/**
 * client_id, checked before anything else. Errors here are shown to the user and never redirected
 * (RFC 6749 §4.1.2.1: "MUST NOT automatically redirect the user-agent to the invalid redirection URI").
 */
export function readClientId(params: ParamSource): string {
  if (params.duplicates.includes('client_id')) throw invalidRequest('client_id was sent more than once.');
  const clientId = params.get('client_id');
  if (clientId === undefined) throw invalidRequest('client_id is missing.');
  if (clientId.length > 200) throw invalidRequest('client_id is not valid.');
  return clientId;
}

/**
 * Reads what is needed to answer with an error by redirect: a verified redirect URI, the response
 * mode (an unknown one falls back to the default `query`, and the error is reported through it) and
 * the state, echoed only when it is usable.
 */
export function readResponseTarget(params: ParamSource, redirectUri: string): ResponseTarget {
  const mode = params.get('response_mode');
  const responseMode =
    !params.duplicates.includes('response_mode') && (RESPONSE_MODES as readonly string[]).includes(mode ?? '') ? (mode as ResponseMode) : 'query';
  const state = params.get('state');
  const usableState = params.duplicates.includes('state') || tooLong(state, MAX_LENGTH.default) ? undefined : state;
  return { redirectUri, responseMode, state: usableState };
}

/** The scopes a client may request: its registered `scope`, or the default set. */
export function allowedScopesOf(client: Pick<Client, 'metadata'>): string[] {
  const registered = client.metadata.scope === undefined ? undefined : parseScope(client.metadata.scope);
  return registered ?? [...DEFAULT_ALLOWED_SCOPES];
}

const PKCE_S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Validates the rest of the request once client and redirect URI are known. Throws OAuthError; the
 * caller sends it to the client's redirect URI (RFC 6749 §4.1.2.1).
 */
export function parseAuthorizationRequest(params: ParamSource, client: Client, target: ResponseTarget & { redirectUriSent: boolean }): AuthorizationRequest {
  // RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
  if (params.duplicates.length > 0) throw invalidRequest(`Parameters sent more than once: ${params.duplicates.join(', ')}.`);

  const responseMode = params.get('response_mode');
  if (responseMode !== undefined && !(RESPONSE_MODES as readonly string[]).includes(responseMode)) {
    throw invalidRequest(`response_mode must be one of: ${RESPONSE_MODES.join(', ')}.`);
  }
  if (tooLong(params.get('state'), MAX_LENGTH.default)) throw invalidRequest(`state is longer than ${MAX_LENGTH.default} characters.`);

  // RFC 6749 §4.1.1 / §4.1.2.1; OIDC Core §3.1.2.1.
  const responseType = params.get('response_type');
  if (responseType === undefined) throw invalidRequest('response_type is missing.');
  if (responseType !== 'code') throw new OAuthError('unsupported_response_type', 'Only response_type=code is supported.');
  if (!client.metadata.response_types.includes('code') || !client.metadata.grant_types.includes('authorization_code')) {
    throw new OAuthError('unauthorized_client', 'This client is not registered for the authorization code flow.');
  }

  // OIDC Core §6: passing a request object is optional to support; say so with the specific codes.
  if (params.get('request') !== undefined) throw new OAuthError('request_not_supported', 'The request parameter is not supported.');
  if (params.get('request_uri') !== undefined) throw new OAuthError('request_uri_not_supported', 'The request_uri parameter is not supported.');

  // RFC 6749 §3.3: the requested scope must lie inside the client's allowed set.
  const rawScope = params.get('scope');
  const scope = parseScope(rawScope);
  if (scope === undefined) throw new OAuthError('invalid_scope', 'scope must be space-separated scope tokens (RFC 6749 §3.3).');
  const allowed = allowedScopesOf(client);
  const refused = disallowedScopes(scope, allowed);
  if (refused.length > 0) throw new OAuthError('invalid_scope', `This client may not request: ${refused.join(' ')}.`);
  // RFC 6749 §3.3: with no scope requested the server "MUST either process the request using a
  // pre-defined default value or fail". The default is the allowed set without patterns; a refresh
  // token that outlives the session (offline_access) must be asked for explicitly.
  const effectiveScope = scope.length > 0 ? scope : defaultScopes(allowed).filter((s) => s !== 'offline_access');
  if (effectiveScope.length === 0) throw new OAuthError('invalid_scope', 'scope is required for this client.');

  // RFC 7636 §4.3 and §4.4.1. `plain` is not accepted (RFC 9700 §2.1.1: S256 only). Without a
  // method the RFC's default would be `plain`, so a challenge without method is rejected too.
  const codeChallenge = params.get('code_challenge');
  const method = params.get('code_challenge_method');
  if (codeChallenge === undefined) {
    if (method !== undefined) throw invalidRequest('code_challenge_method was sent without code_challenge.');
    // RFC 9700 §2.1.1 / RFC 8252 §8.1: PKCE is mandatory for public clients.
    if (isPublicClient(client)) throw invalidRequest('code_challenge is required for public clients (PKCE, RFC 7636).');
  } else {
    if (method !== 'S256') throw invalidRequest('code_challenge_method must be S256 (plain is not accepted).');
    if (!PKCE_S256_CHALLENGE.test(codeChallenge))
      throw invalidRequest('code_challenge must be the 43-character base64url SHA-256 of the verifier (RFC 7636 §4.2).');
  }

  const nonce = params.get('nonce');
  if (tooLong(nonce, MAX_LENGTH.default)) throw invalidRequest(`nonce is longer than ${MAX_LENGTH.default} characters.`);

  // OIDC Core §3.1.2.1: prompt is a space-delimited list; "none" must stand alone.
  const prompt: Prompt[] = [];
  const rawPrompt = params.get('prompt');
  if (rawPrompt !== undefined) {
    for (const value of rawPrompt.split(' ')) {
      if (!(PROMPT_VALUES as readonly string[]).includes(value)) throw invalidRequest(`prompt values supported: ${PROMPT_VALUES.join(', ')}.`);
      if (!prompt.includes(value as Prompt)) prompt.push(value as Prompt);
    }
    if (prompt.includes('none') && prompt.length > 1) throw invalidRequest('prompt=none cannot be combined with other values.');
  }

  // OIDC Core §3.1.2.1: max_age is a number of seconds; 0 forces a fresh login.
  const rawMaxAge = params.get('max_age');
  let maxAge: number | undefined;
  if (rawMaxAge !== undefined) {
    if (!/^\d{1,10}$/.test(rawMaxAge)) throw invalidRequest('max_age must be a non-negative whole number of seconds.');
    maxAge = Number(rawMaxAge);
  }

  const loginHint = params.get('login_hint');
  if (tooLong(loginHint, MAX_LENGTH.loginHint)) throw invalidRequest(`login_hint is longer than ${MAX_LENGTH.loginHint} characters.`);
  const idTokenHint = params.get('id_token_hint');
  if (tooLong(idTokenHint, MAX_LENGTH.idTokenHint)) throw invalidRequest('id_token_hint is too long.');

  return {
    clientId: client.clientId,
    redirectUri: target.redirectUri,
    redirectUriSent: target.redirectUriSent,
    responseMode: target.responseMode,
    scope: effectiveScope,
    state: target.state,
    nonce,
    codeChallenge,
    codeChallengeMethod: codeChallenge === undefined ? undefined : 'S256',
    prompt,
    maxAge,
    loginHint,
    idTokenHint,
  };
}

/** Facts about the browser's signed-in user, when there is one. */
export interface SignedIn {
  userId: string;
  /** ms */
  authTime: number;
}

export type LoginReason = 'no_session' | 'prompt_login' | 'max_age' | 'hint_mismatch';

/**
 * Does the user have to (re-)enter credentials? `freshLogin` is true right after the login form
 * succeeded in this interaction: then prompt=login and max_age are already satisfied.
 * OIDC Core §3.1.2.1 (prompt=login, max_age) and §3.1.2.3 (re-authenticate when the
 * id_token_hint names another user).
 */
export function loginNeeded(
  request: Pick<AuthorizationRequest, 'prompt' | 'maxAge'>,
  signedIn: SignedIn | undefined,
  facts: { now: number; freshLogin: boolean; hintSubject: string | undefined },
): LoginReason | undefined {
  if (!signedIn) return 'no_session';
  if (facts.freshLogin) return undefined;
  if (request.prompt.includes('login')) return 'prompt_login';
  // max_age=0 is "sign in now" (OIDC Core §3.1.2.1 treats it like prompt=login), even within the same millisecond.
  if (request.maxAge !== undefined && (request.maxAge === 0 || facts.now - signedIn.authTime > request.maxAge * 1000)) return 'max_age';
  if (facts.hintSubject !== undefined && facts.hintSubject !== signedIn.userId) return 'hint_mismatch';
  return undefined;
}

/**
 * Does the user have to be asked? First-party clients (skip_consent) are not asked unless the
 * request insists (prompt=consent); otherwise a remembered consent must cover every requested scope
 * (asking for more scopes asks again).
 */
export function consentNeeded(
  request: Pick<AuthorizationRequest, 'prompt' | 'scope'>,
  client: Pick<Client, 'skipConsent'>,
  remembered: readonly string[] | undefined,
): boolean {
  if (request.prompt.includes('consent')) return true;
  if (client.skipConsent) return false;
  return remembered === undefined || !isSubset(request.scope, remembered);
}

/** A response to the client: success (`code`) or error, always with `iss` (RFC 9207 §2). */
export interface AuthorizationResponse {
  redirectUri: string;
  responseMode: ResponseMode;
  params: [string, string][];
}

export function successResponse(target: ResponseTarget, code: string, issuer: string): AuthorizationResponse {
  // RFC 6749 §4.1.2: code, and state exactly as received; RFC 9207 §2: iss.
  const params: [string, string][] = [['code', code]];
  if (target.state !== undefined) params.push(['state', target.state]);
  params.push(['iss', issuer]);
  return { redirectUri: target.redirectUri, responseMode: target.responseMode, params };
}

export function errorResponse(target: ResponseTarget, error: OAuthError, issuer: string): AuthorizationResponse {
  // RFC 6749 §4.1.2.1: error, error_description, state; RFC 9207 §2: iss in error responses too.
  const params: [string, string][] = [
    ['error', error.code],
    ['error_description', error.description],
  ];
  if (target.state !== undefined) params.push(['state', target.state]);
  params.push(['iss', issuer]);
  return { redirectUri: target.redirectUri, responseMode: target.responseMode, params };
}

/**
 * The Location for query and fragment modes. The parameters are appended to the registered string
 * as is (RFC 6749 §3.1.2: "MUST retain" an existing query), never by re-serializing the URI.
 */
export function responseLocation(response: AuthorizationResponse): string {
  const encoded = new URLSearchParams(response.params).toString();
  if (response.responseMode === 'fragment') return `${response.redirectUri}#${encoded}`;
  const uri = response.redirectUri;
  const separator = !uri.includes('?') ? '?' : uri.endsWith('?') || uri.endsWith('&') ? '' : '&';
  return `${uri}${separator}${encoded}`;
}
