/**
 * The typed result of introspection (RFC 7662 §2.2 members, plus Latch's `sid` and `device_id`,
 * `act` from token exchange (RFC 8693 §4.1) and `aud` from resource indicators (RFC 8707)).
 */
import { createHash } from 'node:crypto';
import { isObject } from './http.ts';

export interface ActivePrincipal {
  readonly active: true;
  /** The user, or for a client credentials token the client itself. */
  readonly sub: string;
  readonly clientId: string;
  readonly scope: ReadonlySet<string>;
  /** The session (device) the token belongs to; stays the same across refreshes. */
  readonly sid: string | undefined;
  readonly deviceId: string | undefined;
  /** A stable key for data kept per device; see deviceKeyOf. Undefined without a device_id. */
  readonly deviceKey: string | undefined;
  /** Expiry, in seconds since the epoch. */
  readonly exp: number | undefined;
  readonly iat: number | undefined;
  readonly jti: string | undefined;
  readonly username: string | undefined;
  /** RFC 8693 §4.1: who acts on behalf of `sub` (nested `act` for a chain). */
  readonly act: Readonly<Record<string, unknown>> | undefined;
  /** RFC 7662 §2.2 / RFC 8707: the resources the token is meant for; empty when not stated. */
  readonly aud: readonly string[];
}

export interface InactivePrincipal {
  readonly active: false;
}

export type Principal = ActivePrincipal | InactivePrincipal;

export const INACTIVE: InactivePrincipal = Object.freeze({ active: false });

/**
 * A stable, fixed-length key for "this user on this device": the base64url SHA-256 of
 * `<length of sub>:<sub><device_id>`. The length prefix makes the pair unambiguous (no choice of
 * sub and device_id can produce another pair's input), and the hash keeps the key short and free of
 * characters that need escaping. The same user and device give the same key for every token and
 * across refreshes; a new sign-in on the device is a new device_id, and so a new key.
 */
export function deviceKeyOf(sub: string, deviceId: string): string {
  return createHash('sha256').update(`${sub.length}:${sub}${deviceId}`, 'utf8').digest('base64url');
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/**
 * Maps an introspection answer. Only `active: true` with a `sub` or `client_id` is active; a
 * refresh token (Latch answers `token_type: refresh_token`) is not an access token and never
 * opens an API.
 */
export function principalFromIntrospection(body: Record<string, unknown>): Principal {
  if (body.active !== true) return INACTIVE;
  const tokenType = str(body.token_type);
  if (tokenType !== undefined && tokenType.toLowerCase() === 'refresh_token') return INACTIVE;
  const clientId = str(body.client_id);
  const sub = str(body.sub) ?? clientId;
  if (sub === undefined || clientId === undefined) return INACTIVE;
  const deviceId = str(body.device_id);
  const aud = typeof body.aud === 'string' ? [body.aud] : Array.isArray(body.aud) ? body.aud.filter((a): a is string => typeof a === 'string') : [];
  return Object.freeze({
    active: true,
    sub,
    clientId,
    // RFC 7662 §2.2: "a JSON string containing a space-separated list of scopes".
    scope: new Set(typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : []),
    sid: str(body.sid),
    deviceId,
    deviceKey: deviceId !== undefined ? deviceKeyOf(sub, deviceId) : undefined,
    exp: num(body.exp),
    iat: num(body.iat),
    jti: str(body.jti),
    username: str(body.username),
    act: isObject(body.act) ? body.act : undefined,
    aud: Object.freeze(aud),
  } satisfies ActivePrincipal);
}

/** A plain-JSON form for a shared store, and back. */
export function serializePrincipal(p: Principal): string {
  if (!p.active) return '{"active":false}';
  return JSON.stringify({
    active: true,
    sub: p.sub,
    client_id: p.clientId,
    scope: [...p.scope].join(' '),
    sid: p.sid,
    device_id: p.deviceId,
    exp: p.exp,
    iat: p.iat,
    jti: p.jti,
    username: p.username,
    act: p.act,
    aud: p.aud,
  });
}

export function deserializePrincipal(text: string): Principal | undefined {
  try {
    const body = JSON.parse(text) as unknown;
    return isObject(body) ? principalFromIntrospection(body) : undefined;
  } catch {
    return undefined;
  }
}
