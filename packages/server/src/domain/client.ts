/**
 * Clients and their RFC 7591 metadata. The metadata document keeps the RFC's snake_case names
 * because it is stored and served back exactly as registered (RFC 7591 §3.2.1).
 */
import { OAuthError } from './errors.ts';
import { isValidScopeString } from './scope.ts';

export const SUPPORTED_GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export const SUPPORTED_RESPONSE_TYPES = ['code'] as const;
export const SUPPORTED_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt'] as const;
export const SUPPORTED_ID_TOKEN_ALGS = ['RS256', 'ES256'] as const;

export type GrantType = (typeof SUPPORTED_GRANT_TYPES)[number];
export type AuthMethod = (typeof SUPPORTED_AUTH_METHODS)[number];

export interface ClientMetadata {
  redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: AuthMethod;
  scope?: string;
  client_name?: string;
  client_uri?: string;
  logo_uri?: string;
  policy_uri?: string;
  tos_uri?: string;
  contacts?: string[];
  jwks?: { keys: Record<string, unknown>[] };
  jwks_uri?: string;
  application_type: 'web' | 'native';
  software_id?: string;
  software_version?: string;
  token_endpoint_auth_signing_alg?: string;
  id_token_signed_response_alg?: string;
  post_logout_redirect_uris?: string[];
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
}

export interface Client {
  clientId: string;
  secretHash: Buffer | null;
  metadata: ClientMetadata;
  /** First-party clients skip the consent page. */
  skipConsent: boolean;
  /** Resource servers may introspect tokens issued to other clients (RFC 7662 §4). */
  introspectAnyToken: boolean;
  /** Per-client access token lifetime in seconds; null means the configured default. */
  accessTokenTtl: number | null;
  /** When refresh tokens are issued (only to clients with the refresh_token grant type). */
  refreshTokenPolicy: RefreshTokenPolicy;
  registrationAccessTokenHash: Buffer | null;
  source: 'admin' | 'cli' | 'dynamic';
  createdAt: number;
  updatedAt: number;
}

export const isPublicClient = (client: Pick<Client, 'metadata'>) => client.metadata.token_endpoint_auth_method === 'none';
export const needsSecret = (method: AuthMethod) => method === 'client_secret_basic' || method === 'client_secret_post';

/**
 * Refresh token policy (Latch extension): `always` issues one with every user grant, `offline_access`
 * only when that scope was granted (OIDC Core §11), `never` issues none. Needs the refresh_token grant type.
 */
export const REFRESH_TOKEN_POLICIES = ['always', 'offline_access', 'never'] as const;
export type RefreshTokenPolicy = (typeof REFRESH_TOKEN_POLICIES)[number];

/** Latch extension fields accepted by the admin API next to the RFC 7591 metadata. */
export interface ClientPolicy {
  skip_consent?: boolean;
  introspect_any_token?: boolean;
  access_token_ttl?: number | null;
  refresh_token_policy?: RefreshTokenPolicy;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
export const isLoopbackHost = (hostname: string) => LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);

const STRING_FIELDS = [
  'client_name',
  'client_uri',
  'logo_uri',
  'policy_uri',
  'tos_uri',
  'jwks_uri',
  'software_id',
  'software_version',
  'token_endpoint_auth_signing_alg',
  'id_token_signed_response_alg',
  'backchannel_logout_uri',
  'scope',
] as const;
const ARRAY_FIELDS = ['redirect_uris', 'grant_types', 'response_types', 'contacts', 'post_logout_redirect_uris'] as const;
const KNOWN_FIELDS = new Set<string>([
  ...STRING_FIELDS,
  ...ARRAY_FIELDS,
  'token_endpoint_auth_method',
  'jwks',
  'application_type',
  'backchannel_logout_session_required',
]);

const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
export const metadataError = (field: string, description: string) =>
  new OAuthError('invalid_client_metadata', `${field}: ${description}`, { extra: { field } });
const redirectError = (field: string, description: string) => new OAuthError('invalid_redirect_uri', `${field}: ${description}`, { extra: { field } });

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/**
 * Redirect URI rules: RFC 6749 §3.1.2 (absolute, no fragment), RFC 8252 §7 for native apps
 * (private-use scheme in reverse-domain form, or loopback http), https otherwise.
 */
export function checkRedirectUri(uri: string, applicationType: 'web' | 'native', field = 'redirect_uris'): void {
  if (uri.length > 2000) throw redirectError(field, 'longer than 2000 characters');
  const url = parseUrl(uri);
  if (!url) throw redirectError(field, `"${uri}" is not an absolute URI`);
  if (url.hash || uri.includes('#')) throw redirectError(field, `"${uri}" must not contain a fragment (RFC 6749 §3.1.2)`);
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:') {
    if (isLoopbackHost(url.hostname)) return;
    throw redirectError(field, `"${uri}" must use https (plain http is allowed only for loopback addresses)`);
  }
  // RFC 8252 §7.1: private-use URI schemes for native apps, based on a reverse domain name.
  const scheme = url.protocol.slice(0, -1);
  if (applicationType === 'native' && scheme.includes('.')) return;
  if (['javascript', 'data', 'file', 'vbscript'].includes(scheme)) throw redirectError(field, `"${uri}" uses a forbidden scheme`);
  throw redirectError(
    field,
    applicationType === 'native'
      ? `"${uri}": a private-use scheme must be a reverse domain name such as com.example.app:/callback (RFC 8252 §7.1)`
      : `"${uri}" must use https; private-use schemes need application_type "native"`,
  );
}

function checkHttpUrl(field: string, value: string): void {
  const url = parseUrl(value);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw metadataError(field, 'must be an absolute http(s) URL');
  if (url.hash) throw metadataError(field, 'must not contain a fragment');
}

export interface ValidateOptions {
  /** Reject unknown fields (admin API) instead of ignoring them (RFC 7591 §2: servers ignore what they do not understand). */
  strict: boolean;
  /** Fields allowed besides the RFC 7591 ones (admin extension fields). */
  extraFields?: readonly string[];
}

/** Validates and normalizes RFC 7591 §2 client metadata, applying its defaults. */
export function validateClientMetadata(input: unknown, options: ValidateOptions): ClientMetadata {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new OAuthError('invalid_client_metadata', 'The body must be a JSON object.');
  }
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!KNOWN_FIELDS.has(key) && !options.extraFields?.includes(key) && options.strict) {
      throw metadataError(key, 'unknown field');
    }
  }
  // Control characters have no place in metadata (and PostgreSQL text cannot hold NUL).
  const badString = (x: unknown) => typeof x !== 'string' || x.length > 2000 || CONTROL_CHARACTER.test(x);
  for (const field of STRING_FIELDS) {
    const v = raw[field];
    if (v !== undefined && badString(v)) throw metadataError(field, 'must be a string of at most 2000 characters without control characters');
  }
  for (const field of ARRAY_FIELDS) {
    const v = raw[field];
    if (v !== undefined && (!Array.isArray(v) || v.length > 100 || v.some(badString))) {
      throw metadataError(field, 'must be an array of at most 100 strings without control characters');
    }
  }
  const applicationType = (raw.application_type ?? 'web') as string;
  if (applicationType !== 'web' && applicationType !== 'native') throw metadataError('application_type', 'must be "web" or "native"');

  const grantTypes = (raw.grant_types as string[] | undefined) ?? ['authorization_code'];
  for (const g of grantTypes) {
    if (!(SUPPORTED_GRANT_TYPES as readonly string[]).includes(g)) {
      throw metadataError('grant_types', `"${g}" is not supported; supported: ${SUPPORTED_GRANT_TYPES.join(', ')}`);
    }
  }
  const usesCode = grantTypes.includes('authorization_code');
  const responseTypes = (raw.response_types as string[] | undefined) ?? (usesCode ? ['code'] : []);
  for (const r of responseTypes) {
    if (!(SUPPORTED_RESPONSE_TYPES as readonly string[]).includes(r)) throw metadataError('response_types', `"${r}" is not supported; supported: code`);
  }
  // RFC 7591 §2.1: grant_types and response_types must be consistent.
  if (usesCode !== responseTypes.includes('code')) {
    throw metadataError('response_types', 'response type "code" goes together with grant type "authorization_code" (RFC 7591 §2.1)');
  }
  if (grantTypes.includes('refresh_token') && !usesCode) {
    throw metadataError('grant_types', '"refresh_token" needs "authorization_code" to obtain a first refresh token');
  }

  const method = (raw.token_endpoint_auth_method ?? 'client_secret_basic') as string;
  if (!(SUPPORTED_AUTH_METHODS as readonly string[]).includes(method)) {
    throw metadataError('token_endpoint_auth_method', `"${method}" is not supported; supported: ${SUPPORTED_AUTH_METHODS.join(', ')}`);
  }
  if (method === 'none' && grantTypes.includes('client_credentials')) {
    throw metadataError('grant_types', 'client_credentials needs a confidential client (token_endpoint_auth_method other than "none")');
  }

  const redirectUris = (raw.redirect_uris as string[] | undefined) ?? [];
  if (usesCode && redirectUris.length === 0) throw redirectError('redirect_uris', 'at least one redirect URI is required for authorization_code');
  for (const uri of redirectUris) checkRedirectUri(uri, applicationType);

  for (const field of ['client_uri', 'logo_uri', 'policy_uri', 'tos_uri', 'jwks_uri'] as const) {
    const v = raw[field] as string | undefined;
    if (v !== undefined) checkHttpUrl(field, v);
  }
  if (raw.jwks_uri !== undefined && !(raw.jwks_uri as string).startsWith('https:') && !isLoopbackHost(new URL(raw.jwks_uri as string).hostname)) {
    throw metadataError('jwks_uri', 'must use https');
  }
  if (raw.jwks !== undefined) {
    const jwks = raw.jwks as { keys?: unknown };
    if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys) || jwks.keys.some((k) => typeof k !== 'object' || k === null)) {
      throw metadataError('jwks', 'must be a JWK Set: {"keys": [ … ]}');
    }
    if (jwks.keys.some((k) => 'd' in (k as object))) throw metadataError('jwks', 'must contain public keys only');
  }
  // RFC 7591 §2: jwks and jwks_uri MUST NOT both be present.
  if (raw.jwks !== undefined && raw.jwks_uri !== undefined) throw metadataError('jwks', 'jwks and jwks_uri must not both be present (RFC 7591 §2)');
  if (method === 'private_key_jwt' && raw.jwks === undefined && raw.jwks_uri === undefined) {
    throw metadataError('token_endpoint_auth_method', 'private_key_jwt needs jwks or jwks_uri');
  }
  if (raw.scope !== undefined && !isValidScopeString(raw.scope as string)) throw metadataError('scope', 'must be space-separated scope tokens (RFC 6749 §3.3)');
  if (raw.id_token_signed_response_alg !== undefined && !(SUPPORTED_ID_TOKEN_ALGS as readonly string[]).includes(raw.id_token_signed_response_alg as string)) {
    throw metadataError('id_token_signed_response_alg', `supported: ${SUPPORTED_ID_TOKEN_ALGS.join(', ')}`);
  }
  // OIDC Back-Channel Logout §2.2: absolute URI, may have a query, must not have a fragment.
  if (raw.backchannel_logout_uri !== undefined) checkHttpUrl('backchannel_logout_uri', raw.backchannel_logout_uri as string);
  if (raw.backchannel_logout_session_required !== undefined && typeof raw.backchannel_logout_session_required !== 'boolean') {
    throw metadataError('backchannel_logout_session_required', 'must be a boolean');
  }
  // OIDC RP-Initiated Logout §3.1: post_logout_redirect_uris follow the redirect URI rules.
  for (const uri of (raw.post_logout_redirect_uris as string[] | undefined) ?? []) checkRedirectUri(uri, applicationType, 'post_logout_redirect_uris');

  const out: ClientMetadata = {
    redirect_uris: redirectUris,
    grant_types: [...new Set(grantTypes)],
    response_types: [...new Set(responseTypes)],
    token_endpoint_auth_method: method as AuthMethod,
    application_type: applicationType,
  };
  for (const field of STRING_FIELDS) if (raw[field] !== undefined) (out as unknown as Record<string, unknown>)[field] = raw[field];
  if (raw.contacts !== undefined) out.contacts = raw.contacts as string[];
  if (raw.post_logout_redirect_uris !== undefined) out.post_logout_redirect_uris = raw.post_logout_redirect_uris as string[];
  if (raw.jwks !== undefined) out.jwks = raw.jwks as ClientMetadata['jwks'] & object;
  if (raw.backchannel_logout_session_required !== undefined) out.backchannel_logout_session_required = raw.backchannel_logout_session_required as boolean;
  return out;
}
