import type { FastifyInstance } from 'fastify';
import { type Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { DatabaseHandle } from '../storage/db.ts';

/** One registry per Latch instance (tests run several in one process). */
export interface Metrics {
  registry: Registry;
  requests: RequestMetrics;
}

/** Upper bounds (seconds) of the request latency histogram. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

type RequestLabels = { listener: string; method: string; route: string };
interface Timer {
  labels: RequestLabels;
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  perBucket: number[];
}

/**
 * `latch_http_requests_total` and `latch_http_request_duration_seconds`, counted in plain numbers
 * on the request path and turned into the exposition format only when scraped: prom-client's
 * Counter and Histogram hash the label set on every call, which cost 5 % of a token request.
 * Registered as custom metrics with the same names, types and labels prom-client would give.
 */
export class RequestMetrics {
  private readonly counts = new Map<string, { labels: RequestLabels & { status: string }; value: number }>();
  private readonly timers = new Map<string, Timer>();

  constructor(registry: Registry) {
    registerCollected(registry, 'latch_http_requests_total', 'HTTP requests by listener, route and status code.', 'counter', {
      values: () => this.counterValues(),
      reset: () => this.counts.clear(),
    });
    registerCollected(registry, 'latch_http_request_duration_seconds', 'HTTP request latency by listener and route.', 'histogram', {
      values: () => this.histogramValues(),
      reset: () => this.timers.clear(),
    });
  }

  /** Counts one request; `seconds` undefined counts it without timing it. */
  record(listener: string, method: string, route: string, status: number, seconds: number | undefined): void {
    const countKey = `${listener} ${method} ${route} ${status}`;
    const count = this.counts.get(countKey);
    if (count) count.value++;
    else this.counts.set(countKey, { labels: { listener, method, route, status: String(status) }, value: 1 });
    if (seconds === undefined) return;
    const timerKey = `${listener} ${method} ${route}`;
    let timer = this.timers.get(timerKey);
    if (!timer) {
      timer = { labels: { listener, method, route }, count: 0, sum: 0, perBucket: new Array(LATENCY_BUCKETS.length + 1).fill(0) };
      this.timers.set(timerKey, timer);
    }
    timer.count++;
    timer.sum += seconds;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[i] as number)) i++;
    (timer.perBucket[i] as number)++;
  }

  private counterValues() {
    return [...this.counts.values()].map(({ labels, value }) => ({ labels, value }));
  }

  /** Cumulative `_bucket` series ending with +Inf, then `_sum` and `_count` (OpenMetrics histogram). */
  private histogramValues() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const { labels, count, sum, perBucket } of this.timers.values()) {
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += perBucket[i] as number;
        values.push({ labels: { ...labels, le }, value: cumulative, metricName: 'latch_http_request_duration_seconds_bucket' });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: count, metricName: 'latch_http_request_duration_seconds_bucket' });
      values.push({ labels, value: sum, metricName: 'latch_http_request_duration_seconds_sum' });
      values.push({ labels, value: count, metricName: 'latch_http_request_duration_seconds_count' });
    }
    return values;
  }
}

/** A metric whose series are computed when scraped, registered as prom-client expects a metric. */
function registerCollected(
  registry: Registry,
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  source: { values: () => unknown[]; reset: () => void },
): void {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    async get() {
      return { name, help, type, aggregator: 'sum', values: source.values() };
    },
    reset: source.reset,
  };
  registry.registerMetric(metric as unknown as Counter);
}

export function createMetrics(db: DatabaseHandle, options: { defaultMetrics: boolean }): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'latch_' });
  const requests = new RequestMetrics(registry);
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
  return { registry, requests };
}

/** Counts and times the requests of one listener, labelled by route pattern (never the raw URL). */
export class RequestObserver {
  constructor(
    private readonly metrics: Metrics,
    private readonly listener: 'public' | 'admin',
  ) {}

  /** `startedAt` from process.hrtime.bigint() when the request arrived (undefined: count only). */
  observe(method: string, route: string, status: number, startedAt: bigint | undefined): void {
    const seconds = startedAt === undefined ? undefined : Number(process.hrtime.bigint() - startedAt) / 1e9;
    this.metrics.requests.record(this.listener, method, route, status, seconds);
  }
}

/** Observes every request fastify routes on a listener. */
export function instrument(app: FastifyInstance, observer: RequestObserver): void {
  const started = new WeakMap<object, bigint>();
  app.addHook('onRequest', (request, _reply, done) => {
    started.set(request.raw, process.hrtime.bigint());
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    observer.observe(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, started.get(request.raw));
    done();
  });
}
