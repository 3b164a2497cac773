/**
 * Metrics hooks: the SDK calls these and knows nothing of any metrics library (see prometheus.ts
 * for a prom-client adapter). Every hook is optional and must not throw.
 */
export type IntrospectionOutcome = 'active' | 'inactive' | 'error';
export type CacheEvent = 'hit' | 'miss' | 'shared_hit' | 'eviction';
/** What a guard answered: the principal, 401, 403, or 503 (Latch unreachable). */
export type RequestOutcome = 'allowed' | 'unauthorized' | 'forbidden' | 'unavailable';
/** What became of a received SET or logout token. */
export type EventOutcome = 'applied' | 'rejected' | 'duplicate' | 'failed';

export interface MetricsHooks {
  introspection?(outcome: IntrospectionOutcome, durationMs: number): void;
  cache?(event: CacheEvent, count: number): void;
  request?(outcome: RequestOutcome): void;
  /** `lagMs`: now − the event's `iat` (how late it arrived), when it was verified. */
  event?(type: string, outcome: EventOutcome, lagMs?: number): void;
}
