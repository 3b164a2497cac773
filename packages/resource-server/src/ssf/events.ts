/**
 * Event types the receiver acts on and the subjects they carry.
 * - CAEP 1.0 §3.1 session-revoked, §3.3 credential-change; RISC 1.0 §2.2 account-disabled, §2.1
 *   account-purged; SSF 1.0 §8.1.4 verification and §8.1.5 stream-updated.
 * - Latch's own `urn:latch:secevent:token-revoked`: one token revoked, its `jti` in the event body,
 *   its session in the complex subject.
 * Subjects (RFC 9493, SSF 1.0 §3): the SET's `sub_id` claim, or for older transmitters the event's
 * `subject` member. A complex subject has `user`, `session`, `device`, `application` members, each
 * itself a simple subject.
 */
import { isObject } from '../http.ts';

export const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
export const CREDENTIAL_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/credential-change';
export const ACCOUNT_DISABLED = 'https://schemas.openid.net/secevent/risc/event-type/account-disabled';
export const ACCOUNT_PURGED = 'https://schemas.openid.net/secevent/risc/event-type/account-purged';
export const TOKEN_REVOKED = 'urn:latch:secevent:token-revoked';
export const VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
export const STREAM_UPDATED = 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated';

/** What `ensureStream` asks for (SSF §8.1.1 `events_requested`). */
export const EVENTS_REQUESTED = [SESSION_REVOKED, CREDENTIAL_CHANGE, ACCOUNT_DISABLED, ACCOUNT_PURGED, TOKEN_REVOKED] as const;

/** The short name used in callbacks and metrics: the last path segment (`session-revoked`). */
export function shortName(type: string): string {
  return type.startsWith('urn:') ? (type.split(':').at(-1) as string) : (type.split('/').at(-1) as string);
}

export interface Subject {
  format?: string;
  [member: string]: unknown;
}

/** The identifier a simple subject carries (RFC 9493 §3.2). */
function identifierOf(subject: unknown, issuer: string): string | undefined {
  if (!isObject(subject)) return undefined;
  switch (subject.format) {
    case 'iss_sub':
      // A user of another issuer is not one of ours.
      return subject.iss === issuer && typeof subject.sub === 'string' ? subject.sub : undefined;
    case 'opaque':
      return typeof subject.id === 'string' ? subject.id : undefined;
    default:
      return undefined;
  }
}

export interface SubjectParts {
  user?: string;
  session?: string;
  device?: string;
  application?: string;
}

/** The parts of a subject: a complex one member by member, a simple one as the user. */
export function subjectParts(subject: unknown, issuer: string): SubjectParts {
  if (!isObject(subject)) return {};
  if (subject.format !== 'complex') {
    const user = identifierOf(subject, issuer);
    return user !== undefined ? { user } : {};
  }
  const parts: SubjectParts = {};
  for (const member of ['user', 'session', 'device', 'application'] as const) {
    const id = identifierOf(subject[member], issuer);
    if (id !== undefined) parts[member] = id;
  }
  return parts;
}
