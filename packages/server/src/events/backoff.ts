/**
 * Retry schedule of the outbox (docs/architecture.md §4): exponential backoff with jitter, bounded attempts.
 * "Equal jitter": the n-th retry waits between half and all of min(max, base · 2^(n-1)), so a
 * receiver that comes back after an outage is not hit by every queued event in the same instant,
 * while the delay still grows predictably.
 */
export interface BackoffPolicy {
  /** Delay before the first retry, in milliseconds. */
  baseMs: number;
  /** Upper bound of any single delay, in milliseconds. */
  maxMs: number;
  /** Attempts in total (the first one included) before an event is dead-lettered. */
  maxAttempts: number;
}

/** Delay before the next attempt after `attempts` failed ones; `random` returns [0, 1). */
export function retryDelay(attempts: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** What to do after a failed attempt: retry at `nextAttemptAt`, or dead-letter. */
export function afterFailure(attempts: number, now: number, policy: BackoffPolicy, random?: () => number): { nextAttemptAt: number; dead: boolean } {
  if (attempts >= policy.maxAttempts) return { nextAttemptAt: now, dead: true };
  return { nextAttemptAt: now + retryDelay(attempts, policy, random), dead: false };
}
