/**
 * Why a session (a device) ended, and who made it end. A session end is the event services act on
 * (docs/architecture.md §3): each reason is stored on the session (`sessions.finish_reason`), shown to
 * the user and the operator, and carried by the events that announce the end (back-channel logout,
 * Shared Signals). The words here are the ones people read; the keys are the stored, wire-stable names.
 *
 * `initiator` is the default initiating entity in the sense of CAEP 1.0 §2 (`initiating_entity`:
 * admin, user, policy, system); a caller that knows better passes its own (a password changed by an
 * administrator rather than by the user, say).
 */

export type InitiatingEntity = 'admin' | 'user' | 'policy' | 'system';

interface ReasonText {
  initiator: InitiatingEntity;
  /** For operators (admin API, logs, CAEP `reason_admin`). */
  admin: string;
  /** For the user (account pages, CAEP `reason_user`). */
  user: string;
}

export const FINISH_REASONS = {
  user_signed_out: { initiator: 'user', admin: 'The user signed this device out', user: 'You signed this device out' },
  signed_out_elsewhere: {
    initiator: 'user',
    admin: 'The user signed out all other devices',
    user: 'You signed out all other devices from another device',
  },
  replaced: {
    initiator: 'user',
    admin: 'Replaced by a new sign-in on the same device',
    user: 'You signed in again on this device',
  },
  logout: { initiator: 'user', admin: 'The user signed out (RP-initiated logout)', user: 'You signed out' },
  revoked: { initiator: 'user', admin: "The application revoked the session's token", user: 'The application signed you out' },
  consent_revoked: {
    initiator: 'user',
    admin: "The user withdrew the application's access",
    user: "You removed this application's access",
  },
  password_change: { initiator: 'user', admin: 'The password was changed', user: 'Your password was changed' },
  admin: { initiator: 'admin', admin: 'Ended by an administrator', user: 'An administrator signed this device out' },
  client_deleted: { initiator: 'admin', admin: 'The application was deleted', user: 'The application no longer exists' },
  user_deactivated: { initiator: 'admin', admin: 'The account was deactivated', user: 'Your account was deactivated' },
  idle_timeout: { initiator: 'policy', admin: 'Unused for longer than the idle timeout', user: 'Signed out after a long time without use' },
  max_lifetime: {
    initiator: 'policy',
    admin: 'Reached the maximum session lifetime',
    user: 'Signed out because the session reached its maximum age',
  },
  refresh_token_replay: {
    initiator: 'policy',
    admin: 'A used refresh token was presented again (possible theft)',
    user: 'Signed out for your security',
  },
  code_replay: {
    initiator: 'policy',
    admin: 'An authorization code was redeemed twice (possible theft)',
    user: 'Signed out for your security',
  },
  parent_ended: {
    initiator: 'system',
    admin: 'The session it was derived from ended (token exchange)',
    user: 'The device this access belonged to was signed out',
  },
} as const satisfies Record<string, ReasonText>;

export type FinishReason = keyof typeof FINISH_REASONS;

export function isFinishReason(value: string): value is FinishReason {
  return Object.hasOwn(FINISH_REASONS, value);
}

/** A session end as events see it: why, and who caused it. */
export interface SessionEnd {
  reason: FinishReason;
  initiator: InitiatingEntity;
}

/** The end with the reason's default initiator unless the caller names one. */
export function sessionEnd(reason: FinishReason, initiator?: InitiatingEntity): SessionEnd {
  return { reason, initiator: initiator ?? FINISH_REASONS[reason].initiator };
}

/**
 * Words for a stored reason. Rows written before a reason was renamed (or by a newer version) may
 * hold a name this build does not know; they still get a readable text.
 */
export function describeFinishReason(reason: string): ReasonText {
  if (isFinishReason(reason)) return FINISH_REASONS[reason];
  if (reason === 'expired') return FINISH_REASONS.idle_timeout;
  return { initiator: 'system', admin: `Ended (${reason})`, user: 'Signed out' };
}
