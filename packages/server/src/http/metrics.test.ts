import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { RequestMetrics } from './metrics.ts';

test('request counts and latencies are exposed in the Prometheus text format with cumulative buckets', async () => {
  const registry = new Registry();
  const metrics = new RequestMetrics(registry);
  metrics.record('public', 'POST', '/oauth2/token', 200, 0.0004);
  metrics.record('public', 'POST', '/oauth2/token', 200, 0.003);
  metrics.record('public', 'POST', '/oauth2/token', 401, 7);
  metrics.record('admin', 'GET', '/metrics', 200, undefined);
  const text = await registry.metrics();
  const line = (pattern: string) => text.split('\n').find((l) => l.startsWith(pattern));

  assert.match(text, /# TYPE latch_http_requests_total counter/);
  assert.equal(
    line('latch_http_requests_total{listener="public",method="POST",route="/oauth2/token",status="200"}'),
    'latch_http_requests_total{listener="public",method="POST",route="/oauth2/token",status="200"} 2',
  );
  assert.equal(line('latch_http_requests_total{listener="public",method="POST",route="/oauth2/token",status="401"}')?.split(' ')[1], '1');
  assert.equal(line('latch_http_requests_total{listener="admin",method="GET",route="/metrics",status="200"}')?.split(' ')[1], '1');

  assert.match(text, /# TYPE latch_http_request_duration_seconds histogram/);
  const bucket = (le: string) =>
    line(`latch_http_request_duration_seconds_bucket{listener="public",method="POST",route="/oauth2/token",le="${le}"}`)?.split(' ')[1];
  assert.equal(bucket('0.0005'), '1');
  assert.equal(bucket('0.001'), '1');
  assert.equal(bucket('0.005'), '2');
  assert.equal(bucket('2.5'), '2');
  assert.equal(bucket('+Inf'), '3');
  assert.equal(line('latch_http_request_duration_seconds_count{listener="public",method="POST",route="/oauth2/token"}')?.split(' ')[1], '3');
  const sum = Number(line('latch_http_request_duration_seconds_sum{listener="public",method="POST",route="/oauth2/token"}')?.split(' ')[1]);
  assert.ok(Math.abs(sum - 7.0034) < 1e-9, `sum ${sum}`);
  // An untimed request is counted but has no latency series.
  assert.equal(line('latch_http_request_duration_seconds_count{listener="admin"'), undefined);

  registry.resetMetrics();
  assert.doesNotMatch(await registry.metrics(), /status="200"\} \d/);
});
