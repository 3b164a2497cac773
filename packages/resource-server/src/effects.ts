/**
 * What the receivers report to the API, so it can drop what it keeps for a device or a user. The
 * cache evictions happen before these are called; a callback that throws makes the delivery fail
 * (the transmitter retries it), so a purge is not lost.
 */
export interface SessionEnded {
  /** The user, when the event names one of this issuer's users. */
  sub: string | undefined;
  sid: string | undefined;
  deviceId: string | undefined;
  /** deviceKeyOf(sub, deviceId): the key the API stored the device's data under. */
  deviceKey: string | undefined;
  /** The client the session belonged to, when stated. */
  clientId: string | undefined;
  /** `session-revoked` (Shared Signals) or `backchannel-logout` (OIDC Back-Channel Logout). */
  reason: 'session-revoked' | 'backchannel-logout';
  /** CAEP §2 `initiating_entity`: admin, user, policy or system. */
  initiatingEntity: string | undefined;
  /** CAEP §2 `reason_admin` / `reason_user`: language tag → text. */
  reasonAdmin: Readonly<Record<string, string>> | undefined;
  reasonUser: Readonly<Record<string, string>> | undefined;
  /** `jti` of the SET or logout token that said so. */
  eventId: string;
}

export interface TokenRevoked {
  /** The revoked token's `jti` (as introspection reports it). */
  jti: string;
  sid: string | undefined;
  sub: string | undefined;
  eventId: string;
}

export interface UserEvent {
  sub: string;
  type: 'credential-change' | 'account-disabled' | 'account-purged';
  /** The event's own members (CAEP / RISC), e.g. `credential_type`, `change_type`. */
  event: Readonly<Record<string, unknown>>;
  eventId: string;
}

export interface StreamUpdated {
  status: string | undefined;
  reason: string | undefined;
}

type Callback<T> = (event: T) => void | Promise<void>;

export interface ReceiverCallbacks {
  onSessionEnded?: Callback<SessionEnded>;
  onTokenRevoked?: Callback<TokenRevoked>;
  onCredentialChange?: Callback<UserEvent>;
  onAccountDisabled?: Callback<UserEvent>;
  onAccountPurged?: Callback<UserEvent>;
  onStreamUpdated?: Callback<StreamUpdated>;
}

export const textMap = (value: unknown): Record<string, string> | undefined =>
  typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string') ? (value as Record<string, string>) : undefined;
