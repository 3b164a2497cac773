import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DatabaseHandle } from '../storage/db.ts';

/** One registry per Latch instance (tests run several in one process). */
export interface Metrics {
  registry: Registry;
  requests: Counter<'listener' | 'method' | 'route' | 'status'>;
  duration: Histogram<'listener' | 'method' | 'route'>;
}

export function createMetrics(db: DatabaseHandle, options: { defaultMetrics: boolean }): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'latch_' });
  const requests = new Counter({
    name: 'latch_http_requests_total',
    help: 'HTTP requests by listener, route and status code.',
    labelNames: ['listener', 'method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'latch_http_request_duration_seconds',
    help: 'HTTP request latency by listener and route.',
    labelNames: ['listener', 'method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  new Gauge({
    name: 'latch_db_pool_connections',
    help: 'Database connections by state (PostgreSQL pool; SQLite has one connection).',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      if (db.pool) {
        this.set({ state: 'total' }, db.pool.totalCount);
        this.set({ state: 'idle' }, db.pool.idleCount);
        this.set({ state: 'waiting' }, db.pool.waitingCount);
      } else {
        this.set({ state: 'total' }, 1);
      }
    },
  });
  return { registry, requests, duration };
}

/** Observes every request of a listener, labelled by route pattern (never the raw URL). */
export function instrument(app: FastifyInstance, metrics: Metrics, listener: 'public' | 'admin'): void {
  const started = new WeakMap<object, bigint>();
  // Label-bound children, cached per route/method/status: prom-client hashes the label set on every
  // un-bound call, which showed up on the hot paths.
  const counters = new Map<string, { inc(): void }>();
  const timers = new Map<string, { observe(v: number): void }>();
  app.addHook('onRequest', (request, _reply, done) => {
    started.set(request.raw, process.hrtime.bigint());
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const start = started.get(request.raw);
    const route = request.routeOptions.url ?? 'unmatched';
    const method = request.method;
    const status = reply.statusCode;
    const counterKey = `${method} ${route} ${status}`;
    let counter = counters.get(counterKey);
    if (!counter) {
      counter = metrics.requests.labels({ listener, method, route, status });
      counters.set(counterKey, counter);
    }
    counter.inc();
    if (start !== undefined) {
      const timerKey = `${method} ${route}`;
      let timer = timers.get(timerKey);
      if (!timer) {
        timer = metrics.duration.labels({ listener, method, route });
        timers.set(timerKey, timer);
      }
      timer.observe(Number(process.hrtime.bigint() - start) / 1e9);
    }
    done();
  });
}
