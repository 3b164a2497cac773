/**
 * Verification of a Security Event Token (RFC 8417) before anything is done with it: the JWS
 * against the transmitter's JWKS (asymmetric algorithms only), `typ` `secevent+jwt` (RFC 8417
 * §2.3), `iss`, `aud`, `iat` within the window (neither in the future beyond the clock skew nor
 * older than the oldest event still worth acting on), `jti`, and a non-empty `events` object (§2.2).
 * Failures carry the RFC 8935 §2.4 error code.
 */
import { type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { AuthorityUnavailableError } from '../errors.ts';
import { isObject } from '../http.ts';
import { type JwksCache, UnknownKeyError } from '../jwks.ts';

/** RFC 8935 §2.4 error codes, and SSF's `invalid_state` for a verification event. */
export type SetErrorCode =
  | 'invalid_request'
  | 'invalid_key'
  | 'invalid_issuer'
  | 'invalid_audience'
  | 'authentication_failed'
  | 'access_denied'
  | 'invalid_state';

export class SetError extends Error {
  override readonly name = 'SetError';
  constructor(
    readonly code: SetErrorCode,
    description: string,
  ) {
    super(description);
  }
}

/** Asymmetric signatures only: a shared secret or `none` would let anyone who knows it forge events. */
export const SET_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export interface VerifiedSet {
  jti: string;
  iss: string;
  iat: number;
  aud: string[];
  txn?: string;
  subId?: unknown;
  events: Record<string, Record<string, unknown>>;
  payload: JWTPayload;
}

export interface VerifyOptions {
  keys: JwksCache;
  issuer: string;
  audience: string | string[];
  /** Now, ms. */
  now: number;
  maxAgeMs: number;
  clockSkewMs: number;
  /** The `typ` the JWS header must carry. */
  typ: string;
}

/** Maps jose's failures to RFC 8935 codes; transport failures stay AuthorityUnavailableError (retry). */
function classify(err: unknown): Error {
  if (err instanceof AuthorityUnavailableError || err instanceof SetError) return err;
  if (err instanceof UnknownKeyError) return new SetError('invalid_key', err.message);
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new SetError('invalid_key', 'signature verification failed');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new SetError('invalid_key', 'signing algorithm not accepted');
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return new SetError('invalid_key', err.message);
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return new SetError('invalid_issuer', 'unexpected "iss"');
    if (err.claim === 'aud') return new SetError('invalid_audience', 'unexpected "aud"');
    return new SetError('invalid_request', `"${err.claim}" claim check failed: ${err.reason}`);
  }
  if (err instanceof joseErrors.JWTExpired) return new SetError('invalid_request', 'expired');
  return new SetError('invalid_request', err instanceof Error ? err.message : 'not a valid JWS');
}

export async function verifySignedJwt(jwt: string, options: VerifyOptions): Promise<{ payload: JWTPayload; typ: string | undefined }> {
  try {
    const { payload, protectedHeader } = await jwtVerify(jwt, options.keys.resolve, {
      issuer: options.issuer,
      audience: options.audience,
      typ: options.typ,
      algorithms: SET_ALGORITHMS,
      currentDate: new Date(options.now),
      clockTolerance: Math.ceil(options.clockSkewMs / 1000),
      maxTokenAge: Math.floor(options.maxAgeMs / 1000),
      requiredClaims: ['iss', 'iat', 'jti'],
    });
    if (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > 256)
      throw new SetError('invalid_request', '"jti" must be a non-empty string');
    return { payload, typ: protectedHeader.typ };
  } catch (err) {
    throw classify(err);
  }
}

export async function verifySet(jwt: string, options: Omit<VerifyOptions, 'typ'>): Promise<VerifiedSet> {
  // RFC 8417 §2.3: explicitly typed `secevent+jwt`, so that no other JWT (an ID token, a logout
  // token) can be passed off as a SET.
  const { payload } = await verifySignedJwt(jwt, { ...options, typ: 'secevent+jwt' });
  const events = payload.events;
  if (!isObject(events) || Object.keys(events).length === 0 || !Object.values(events).every(isObject)) {
    throw new SetError('invalid_request', '"events" must be an object of event objects (RFC 8417 §2.2)');
  }
  const aud = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
  return {
    jti: payload.jti as string,
    iss: payload.iss as string,
    iat: payload.iat as number,
    aud,
    ...(typeof payload.txn === 'string' ? { txn: payload.txn } : {}),
    ...(payload.sub_id !== undefined ? { subId: payload.sub_id } : {}),
    events: events as Record<string, Record<string, unknown>>,
    payload,
  };
}
