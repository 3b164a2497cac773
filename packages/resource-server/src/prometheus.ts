/**
 * MetricsHooks for prom-client: counters for requests, cache events and received events,
 * histograms of introspection latency and event lag, and gauges of the cache's size.
 *
 *   const metrics = prometheusMetrics({ registry });
 *   const introspector = createIntrospector({ ..., metrics });
 *   metrics.observe(introspector);   // cache size gauges
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Introspector } from './introspector.ts';
import type { MetricsHooks } from './metrics.ts';

export interface PrometheusOptions {
  registry: Registry;
  /** Metric name prefix (default `latch_rs_`). */
  prefix?: string;
}

export function prometheusMetrics(options: PrometheusOptions): MetricsHooks & { observe(introspector: Introspector): void } {
  const p = options.prefix ?? 'latch_rs_';
  const registers = [options.registry];
  const requests = new Counter({ name: `${p}requests_total`, help: 'Guarded requests by outcome', labelNames: ['outcome'], registers });
  const cache = new Counter({
    name: `${p}cache_events_total`,
    help: 'Introspection cache hits, misses, shared hits, evictions',
    labelNames: ['event'],
    registers,
  });
  const introspections = new Histogram({
    name: `${p}introspection_duration_seconds`,
    help: 'Latency of introspection requests to Latch',
    labelNames: ['outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const events = new Counter({
    name: `${p}events_total`,
    help: 'Received SETs and logout tokens by type and outcome',
    labelNames: ['type', 'outcome'],
    registers,
  });
  const lag = new Histogram({
    name: `${p}event_lag_seconds`,
    help: 'Time from an event being issued (iat) to being applied',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
    registers,
  });
  let observed: Introspector | undefined;
  new Gauge({
    name: `${p}cache_entries`,
    help: 'Entries in the introspection cache',
    registers,
    collect() {
      if (observed) this.set(observed.stats().entries);
    },
  });
  new Gauge({
    name: `${p}cache_bytes`,
    help: 'Approximate bytes held by the introspection cache',
    registers,
    collect() {
      if (observed) this.set(observed.stats().bytes);
    },
  });
  return {
    request: (outcome) => requests.inc({ outcome }),
    cache: (event, count) => cache.inc({ event }, count),
    introspection: (outcome, ms) => introspections.observe({ outcome }, ms / 1000),
    event: (type, outcome, lagMs) => {
      events.inc({ type, outcome });
      // Lag is in whole seconds of iat: only meaningful at that resolution, and never negative.
      if (lagMs !== undefined) lag.observe(Math.max(0, lagMs) / 1000);
    },
    observe(introspector) {
      observed = introspector;
    },
  };
}
