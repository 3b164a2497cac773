/**
 * Resource-server benchmark (issue scenarios a–d), self-contained: starts Latch and the API as
 * separate processes on loopback, drives them with wrk (throughput) and with a node client
 * (propagation), and prints two tables.
 *   (a) notes-api GET /notes on a cache hit, the same route without authentication, a bare fastify
 *       hello; (b) the cache off (introspection on every request);
 *   (c) revocation propagation: SESSIONS sessions, each ended at Latch while a client polls the API
 *       back to back; the time from Latch's answer to the API's first 401, p50 / p99 / max; on
 *       SQLite, and on PostgreSQL when LATCH_BENCH_PG_URL (or LATCH_TEST_PG_URL) is set;
 *   (d) events lost entirely (no signal reaches the API): the token must stop working no later
 *       than the cache TTL (LOST_TTL_MS); and the poll fallback when Latch has a transmitter.
 * The signal in (c) is Shared Signals push when Latch serves /.well-known/ssf-configuration, else
 * OIDC back-channel logout; the table says which.
 * Tunables: DURATION WARMUP CONNECTIONS SERVER_CPUS LOAD_CPUS SESSIONS LOST_SESSIONS LOST_TTL_MS.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { mintToken, newDeviceId, newSessionId } from '../../packages/server/src/crypto/random.ts';
import { migrateToLatest, openDatabase } from '../../packages/server/src/storage/db.ts';
import { createStorage } from '../../packages/server/src/storage/index.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const env = process.env;
const DURATION = Number(env.DURATION ?? 10);
const WARMUP = Number(env.WARMUP ?? 3);
const CONNECTIONS = Number(env.CONNECTIONS ?? 50);
const SERVER_CPUS = env.SERVER_CPUS ?? '0';
const LOAD_CPUS = env.LOAD_CPUS ?? '1';
const SESSIONS = Number(env.SESSIONS ?? 1000);
const LOST_SESSIONS = Number(env.LOST_SESSIONS ?? 50);
const LOST_TTL_MS = Number(env.LOST_TTL_MS ?? 5000);
const ADMIN_TOKEN = `bench-admin-token-${randomBytes(16).toString('hex')}`;
const WORK = mkdtempSync(join(tmpdir(), 'latch-rs-bench-'));
const children: ChildProcess[] = [];
const log = (s: string) => process.stderr.write(`${s}\n`);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function pinned(cpus: string, cmd: string, args: string[]): [string, string[]] {
  return cpus && hasTaskset ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
}
const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

async function waitHttp(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await (await fetch(url)).arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not come up`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function start(name: string, args: string[], extraEnv: Record<string, string>, ipc = false): ChildProcess {
  const [cmd, argv] = pinned(SERVER_CPUS, process.execPath, args);
  const child = spawn(cmd, argv, {
    env: { ...env, ...extraEnv },
    stdio: ipc ? ['ignore', 'ignore', 'inherit', 'ipc'] : ['ignore', 'ignore', 'inherit'],
    cwd: ROOT,
  });
  child.on('exit', (code, signal) => {
    if (code && !stopping.has(child)) log(`${name} exited with ${code ?? signal}`);
  });
  children.push(child);
  return child;
}
const stopping = new Set<ChildProcess>();
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  stopping.add(child);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

interface Latch {
  issuer: string;
  admin<T>(method: string, path: string, body?: unknown): Promise<T>;
  dbUrl: string;
  process: ChildProcess;
}

async function startLatch(dbUrl: string): Promise<Latch> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${port}`;
  const child = start('latch', ['--max-semi-space-size=32', '--import', 'tsx', 'packages/server/src/cli/main.ts', 'serve'], {
    LATCH_DATABASE_URL: dbUrl,
    LATCH_ISSUER: issuer,
    LATCH_PUBLIC_PORT: String(port),
    LATCH_ADMIN_PORT: String(adminPort),
    LATCH_ADMIN_TOKEN: ADMIN_TOKEN,
    LATCH_LOG_LEVEL: 'warn',
    LATCH_LOG_REQUESTS: 'false',
    LATCH_OUTBOUND_ALLOW_LOOPBACK: 'true',
    LATCH_RATE_LIMIT_TOKEN_PER_CLIENT: '100000000',
    NODE_ENV: 'production',
  });
  await waitHttp(`${issuer}/health/ready`);
  return {
    issuer,
    dbUrl,
    process: child,
    async admin<T>(method: string, path: string, body?: unknown) {
      const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
  };
}

async function startApi(mode: string, extra: Record<string, string> = {}): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort();
  const dir = join(WORK, `api-${port}`);
  mkdirSync(dir);
  const child = start(
    'api',
    ['--conditions=latch-source', '--import', 'tsx', 'bench/resource-server/api.ts'],
    { MODE: mode, PORT: String(port), DATABASE: join(dir, 'notes.db'), ...extra },
    true,
  );
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`api (${mode}) exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, process: child };
}

interface Session {
  access: string;
  refresh: string;
}

/** Sessions of one user with one access and one refresh token each, minted as Latch mints them. */
async function seedSessions(dbUrl: string, clientId: string, userId: string, n: number): Promise<Session[]> {
  const handle = openDatabase({ url: dbUrl });
  await migrateToLatest(handle);
  const storage = createStorage(handle);
  const now = Date.now();
  const out: Session[] = [];
  for (let i = 0; i < n; i++) {
    await storage.transaction(async (repos) => {
      const session = await repos.sessions.add({
        sid: newSessionId(now),
        userId,
        clientId,
        deviceId: newDeviceId(),
        browserSessionId: null,
        scope: ['read:notes', 'write:notes'],
        authTime: now,
        amr: ['pwd'],
        acr: null,
        now,
      });
      const at = mintToken('at');
      const rt = mintToken('rt');
      await repos.accessTokens.add({
        hash: at.hash,
        sessionId: session.id,
        clientId,
        scope: ['read:notes', 'write:notes'],
        createdAt: now,
        expiresAt: now + 3_600_000,
      });
      await repos.refreshTokens.add({
        hash: rt.hash,
        sessionId: session.id,
        accessTokenId: null,
        scope: ['read:notes', 'write:notes'],
        createdAt: now,
        expiresAt: now + 3_600_000,
      });
      out.push({ access: at.token, refresh: rt.token });
    });
  }
  await storage.close();
  return out;
}

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

function wrk(url: string, headers: Record<string, string>, seconds: number): WrkResult {
  const args = [
    '-t1',
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    '--latency',
    '--timeout',
    '10s',
    ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    url,
  ];
  const [cmd, argv] = pinned(LOAD_CPUS, 'wrk', args);
  const out = execFileSync(cmd, argv, { encoding: 'utf8' });
  const ms = (v: string | undefined) => {
    const m = /([\d.]+)(us|ms|s)/.exec(v ?? '');
    if (!m) return Number.NaN;
    const n = Number(m[1]);
    return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
  };
  const line = (re: RegExp) => re.exec(out)?.[1];
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Math.round(Number(line(/Requests\/sec:\s+([\d.]+)/))),
    p50: ms(line(/\s50%\s+(\S+)/)),
    p99: ms(line(/\s99%\s+(\S+)/)),
    requests: Number(line(/(\d+) requests in/)),
    non2xx: Number(line(/Non-2xx or 3xx responses: (\d+)/) ?? 0),
    errors: socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

function measure(url: string, headers: Record<string, string>): WrkResult {
  if (WARMUP > 0) wrk(url, headers, WARMUP);
  return wrk(url, headers, DURATION);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;

/** Polls the API with `token` back to back until 401; resolves with the time of that answer. */
async function pollUntil401(apiUrl: string, token: string, deadline: number): Promise<number> {
  for (;;) {
    const res = await fetch(`${apiUrl}/notes`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    if (res.status === 401) return performance.now();
    if (res.status !== 200) throw new Error(`GET /notes answered ${res.status}`);
    if (performance.now() > deadline) throw new Error('no 401 before the deadline');
  }
}

async function endSession(latch: Latch, client: { client_id: string; client_secret: string }, refresh: string): Promise<number> {
  const res = await fetch(`${latch.issuer}/oauth2/revoke`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token: refresh }),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`revoke answered ${res.status}`);
  return performance.now();
}

interface Client {
  client_id: string;
  client_secret: string;
}

async function notesClient(latch: Latch, apiPort: number | undefined, ssf: boolean): Promise<Client> {
  return latch.admin<Client>('POST', '/admin/v1/clients', {
    client_name: 'Notes',
    redirect_uris: ['https://notes.example/cb'],
    grant_types: ['authorization_code', 'refresh_token', ...(ssf ? ['client_credentials'] : [])],
    scope: `openid read:notes write:notes${ssf ? ' ssf.manage' : ''}`,
    ...(apiPort !== undefined && !ssf ? { backchannel_logout_uri: `http://127.0.0.1:${apiPort}/backchannel-logout` } : {}),
  });
}

interface PropagationRow {
  scenario: string;
  backend: string;
  signal: string;
  sessions: number;
  p50: number;
  p99: number;
  max: number;
  target: string;
}

async function propagation(backend: string, dbUrl: string): Promise<PropagationRow[]> {
  const latch = await startLatch(dbUrl);
  const rows: PropagationRow[] = [];
  try {
    const ssf = (await fetch(`${latch.issuer}/.well-known/ssf-configuration`)).status === 200;
    const user = await latch.admin<{ id: string }>('POST', '/admin/v1/users', { username: `bench-${backend}`, password: 'bench passphrase 123' });
    // (c) with the signal reaching the API.
    const apiPort = await freePort();
    const client = await notesClient(latch, apiPort, ssf);
    const sessions = await seedSessions(dbUrl, client.client_id, user.id, SESSIONS);
    const api = await startApiOn(apiPort, 'auth', {
      ISSUER: latch.issuer,
      CLIENT_ID: client.client_id,
      CLIENT_SECRET: client.client_secret,
      ...(ssf ? { DELIVERY: 'push', PUSH_URL: `http://127.0.0.1:${apiPort}/ssf/events` } : {}),
    });
    const signal = ssf ? 'Shared Signals push' : 'back-channel logout';
    log(`(c) ${backend}: ${SESSIONS} sessions ended one after another, signal: ${signal}`);
    const lags: number[] = [];
    for (const s of sessions) {
      // Cache the token, keep polling, end the session: time from Latch's answer to the first 401.
      await pollOnce(api.url, s.access);
      const first401 = pollUntil401(api.url, s.access, performance.now() + 30_000);
      const ended = await endSession(latch, client, s.refresh);
      lags.push((await first401) - ended);
    }
    rows.push(row('(c) session ended at Latch → first 401', backend, signal, lags, 'p99 < 50 ms (push)'));
    await stop(api.process);
    // (d) events lost entirely: no back-channel URI, no stream; the cache TTL bounds the damage.
    const lostClient = await notesClient(latch, undefined, false);
    const lost = await seedSessions(dbUrl, lostClient.client_id, user.id, LOST_SESSIONS);
    const lostApi = await startApi('auth', {
      ISSUER: latch.issuer,
      CLIENT_ID: lostClient.client_id,
      CLIENT_SECRET: lostClient.client_secret,
      TTL_MS: String(LOST_TTL_MS),
    });
    log(`(d) ${backend}: ${LOST_SESSIONS} sessions, no signal, cache TTL ${LOST_TTL_MS} ms`);
    const cachedAt: number[] = [];
    for (const s of lost) {
      await pollOnce(lostApi.url, s.access);
      cachedAt.push(performance.now());
    }
    const lostLags = await Promise.all(
      lost.map(async (s, i) => {
        const ended = await endSession(latch, lostClient, s.refresh);
        const at = await pollUntil401(lostApi.url, s.access, performance.now() + LOST_TTL_MS * 3);
        // What matters is that the token died no later than TTL after it was cached.
        return { sinceEnd: at - ended, sinceCached: at - (cachedAt[i] as number) };
      }),
    );
    const worst = Math.max(...lostLags.map((l) => l.sinceCached));
    rows.push(
      row(
        '(d) events lost → first 401',
        backend,
        `none (TTL ${LOST_TTL_MS} ms)`,
        lostLags.map((l) => l.sinceEnd),
        `≤ TTL after caching (worst ${worst.toFixed(0)} ms)`,
      ),
    );
    if (worst > LOST_TTL_MS + 1000) log(`WARNING: a token outlived the cache TTL by ${(worst - LOST_TTL_MS).toFixed(0)} ms`);
    await stop(lostApi.process);
    if (!ssf)
      rows.push({
        scenario: '(d) push endpoint down → poll fallback',
        backend,
        signal: 'n/a: Latch has no Shared Signals transmitter',
        sessions: 0,
        p50: Number.NaN,
        p99: Number.NaN,
        max: Number.NaN,
        target: '',
      });
  } finally {
    await stop(latch.process);
  }
  return rows;
}

async function startApiOn(port: number, mode: string, extra: Record<string, string>) {
  const dir = join(WORK, `api-${port}`);
  mkdirSync(dir, { recursive: true });
  const child = start(
    'api',
    ['--conditions=latch-source', '--import', 'tsx', 'bench/resource-server/api.ts'],
    { MODE: mode, PORT: String(port), DATABASE: join(dir, 'notes.db'), ...extra },
    true,
  );
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`api (${mode}) exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, process: child };
}

async function pollOnce(apiUrl: string, token: string): Promise<void> {
  const res = await fetch(`${apiUrl}/notes`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`GET /notes answered ${res.status}`);
}

function row(scenario: string, backend: string, signal: string, lags: number[], target: string): PropagationRow {
  const sorted = [...lags].sort((a, b) => a - b);
  return { scenario, backend, signal, sessions: lags.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) as number, target };
}

async function postgresDatabase(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const base = env.LATCH_BENCH_PG_URL ?? env.LATCH_TEST_PG_URL;
  if (!base) return undefined;
  const name = `latch_rs_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

const fmt = (n: number) => (Number.isNaN(n) ? '–' : n < 10 ? n.toFixed(2) : n.toFixed(1));

try {
  // (a) and (b): throughput of one API process (SQLite Latch behind it; cache hits never reach it).
  const throughput: [string, string, WrkResult][] = [];
  const hello = await startApi('hello');
  log(`(a) bare fastify hello, ${DURATION}s`);
  throughput.push(['fastify (bare)', 'GET /hello', measure(`${hello.url}/hello`, {})]);
  await stop(hello.process);
  const noauth = await startApi('noauth');
  log(`(a) notes-api GET /notes without auth, ${DURATION}s`);
  throughput.push(['notes-api (no auth)', 'GET /notes', measure(`${noauth.url}/notes`, {})]);
  await stop(noauth.process);
  const latchDir = join(WORK, 'latch');
  mkdirSync(latchDir);
  const dbUrl = `sqlite:${join(latchDir, 'latch.db')}`;
  const latch = await startLatch(dbUrl);
  const user = await latch.admin<{ id: string }>('POST', '/admin/v1/users', { username: 'bench', password: 'bench passphrase 123' });
  const client = await notesClient(latch, undefined, false);
  const [session] = await seedSessions(dbUrl, client.client_id, user.id, 1);
  const auth = { authorization: `Bearer ${(session as Session).access}` };
  for (const [mode, label] of [
    ['auth', 'notes-api (cache hit)'],
    ['nocache', 'notes-api (cache off: introspection per request)'],
  ] as const) {
    const api = await startApi(mode, { ISSUER: latch.issuer, CLIENT_ID: client.client_id, CLIENT_SECRET: client.client_secret });
    await pollOnce(api.url, (session as Session).access);
    log(`(${mode === 'auth' ? 'a' : 'b'}) ${label}, ${DURATION}s`);
    throughput.push([label, 'GET /notes', measure(`${api.url}/notes`, auth)]);
    await stop(api.process);
  }
  await stop(latch.process);

  const propagationRows = await propagation('sqlite', dbUrl.replace('latch.db', 'propagation.db'));
  const pgDb = await postgresDatabase().catch((err) => {
    log(`PostgreSQL skipped: ${(err as Error).message}`);
    return undefined;
  });
  if (pgDb) {
    try {
      propagationRows.push(...(await propagation('postgres', pgDb.url)));
    } finally {
      await pgDb.drop();
    }
  } else log('PostgreSQL: set LATCH_BENCH_PG_URL (or LATCH_TEST_PG_URL) to measure (c) and (d) on it too');

  const bare = throughput[0]?.[2].rps ?? 1;
  const lines = [
    `date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC  node ${process.version}, wrk c=${CONNECTIONS} ${DURATION}s (+${WARMUP}s warm-up), server on CPU ${SERVER_CPUS}, load on CPU ${LOAD_CPUS}`,
    '',
    '| peer | scenario | req/s | p50 ms | p99 ms | requests | non-2xx | socket errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...throughput.map(
      ([peer, scenario, r]) => `| ${peer} | ${scenario} | ${r.rps} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.requests} | ${r.non2xx} | ${r.errors} |`,
    ),
    '',
    `cache hit / bare fastify: ${((throughput[2]?.[2].rps ?? 0) / bare).toFixed(2)} (target ≥ 0.8); cache hit / the same route without auth: ${((throughput[2]?.[2].rps ?? 0) / (throughput[1]?.[2].rps ?? 1)).toFixed(2)}`,
    '',
    '| scenario | backend | signal | sessions | p50 ms | p99 ms | max ms | target |',
    '|---|---|---|---:|---:|---:|---:|---|',
    ...propagationRows.map(
      (r) => `| ${r.scenario} | ${r.backend} | ${r.signal} | ${r.sessions} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.target} |`,
    ),
  ];
  const text = lines.join('\n');
  console.log(text);
  const results = join(ROOT, 'bench/results');
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, 'resource-server-latest.md'), `${text}\n`);
} finally {
  for (const c of children) await stop(c).catch(() => {});
  rmSync(WORK, { recursive: true, force: true });
}
