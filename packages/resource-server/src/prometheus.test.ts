/** The prom-client adapter registers its metrics and records what the hooks report. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createIntrospector } from './introspector.ts';
import { prometheusMetrics } from './prometheus.ts';

test('prometheusMetrics counts requests, cache events and events, and observes latency, lag and cache size', async () => {
  const registry = new Registry();
  const metrics = prometheusMetrics({ registry });
  const introspector = createIntrospector({ issuer: 'http://127.0.0.1:1', client: { clientId: 'a', clientSecret: 'b' }, metrics });
  metrics.observe(introspector);
  metrics.request?.('allowed');
  metrics.request?.('allowed');
  metrics.request?.('unavailable');
  metrics.cache?.('hit', 3);
  metrics.introspection?.('active', 12);
  metrics.event?.('session-revoked', 'applied', 40);
  metrics.event?.('unknown', 'rejected');
  const text = await registry.metrics();
  assert.match(text, /latch_rs_requests_total\{outcome="allowed"\} 2/);
  assert.match(text, /latch_rs_requests_total\{outcome="unavailable"\} 1/);
  assert.match(text, /latch_rs_cache_events_total\{event="hit"\} 3/);
  assert.match(text, /latch_rs_introspection_duration_seconds_bucket\{le="0.025",outcome="active"\} 1/);
  assert.match(text, /latch_rs_introspection_duration_seconds_bucket\{le="0.01",outcome="active"\} 0/);
  assert.match(text, /latch_rs_events_total\{type="session-revoked",outcome="applied"\} 1/);
  assert.match(text, /latch_rs_event_lag_seconds_bucket\{le="0.05"\} 1/);
  assert.match(text, /latch_rs_event_lag_seconds_count 1/);
  assert.match(text, /latch_rs_cache_entries 0/);
  assert.match(text, /latch_rs_cache_bytes 0/);
});
