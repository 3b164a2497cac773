/**
 * @latch/resource-server: check Latch access tokens in an API, with cached introspection that
 * Shared Signals and back-channel logout keep honest. Framework adapters live in the `./fastify`,
 * `./express` and `./node` entry points, the Redis store in `./redis`, prom-client in `./prometheus`.
 */
export { type BackchannelLogoutOptions, BackchannelLogoutReceiver, createBackchannelLogoutReceiver } from './backchannel-logout.ts';
export { type CacheLimits, type CacheStats, DEFAULT_CACHE_LIMITS, type EvictBy } from './cache/introspection-cache.ts';
export type { ClientCredentials } from './client-auth.ts';
export type { Clock } from './clock.ts';
export type { ReceiverCallbacks, SessionEnded, StreamUpdated, TokenRevoked, UserEvent } from './effects.ts';
export { AuthorityUnavailableError, ConfigurationError } from './errors.ts';
export { createGuard, Guard, type GuardOptions, type GuardResult, type RouteRequirements, satisfies } from './guard.ts';
export { createIntrospector, Introspector, type IntrospectorOptions } from './introspector.ts';
export type { CacheEvent, EventOutcome, IntrospectionOutcome, MetricsHooks, RequestOutcome } from './metrics.ts';
export { type ActivePrincipal, deviceKeyOf, type InactivePrincipal, type Principal } from './principal.ts';
export * as events from './ssf/events.ts';
export { createReceiver, type Delivery, type PushReply, type PushRequest, Receiver, type ReceiverOptions } from './ssf/receiver.ts';
export type { StreamConfiguration } from './ssf/stream.ts';
export { MemoryReplayGuard, type ReplayGuard, type SharedEntry, type SharedStore } from './store.ts';
