/**
 * Database unavailable -> 503 `temporarily_unavailable`, never 500, and recovery without a restart
 * (docs/architecture.md §7: "A process that loses its database answers 503 and recovers
 * by itself").
 *
 * PostgreSQL: Latch reaches the database through a TCP proxy in this test; taking the proxy down is
 * what a database restart or a network partition looks like to the pool (refused connections,
 * dropped sockets). A second test terminates the pool's server processes (failover, admin kill).
 * SQLite: another process holding the write lock longer than the busy timeout (a backup or a
 * `sqlite3` shell left in a transaction): writes answer 503, reads keep working.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { randomId } from '../../../src/crypto/random.ts';
import { sqlitePath } from '../../../src/storage/db.ts';
import { backends, freshDatabase, type TestDatabase } from '../../support/backends.ts';
import { freePort, startLatch, type TestLatch } from '../../support/latch.ts';
import { adminJson, adminRaw, assertJsonError } from '../admin/helpers.ts';

/** A TCP proxy that can be taken down (refusing and dropping connections) and brought back. */
class Outage {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const unavailable = (res: { status: number; text: string; json: { error?: string } }) => {
  assertJsonError(res as never, 503, 'temporarily_unavailable');
};

async function readiness(t: TestLatch) {
  const [pub, adm] = await Promise.all([fetch(`${t.issuer}/health/ready`), fetch(`${t.adminUrl}/health/ready`)]);
  return { public: pub.status, admin: adm.status, body: (await pub.json()) as Record<string, unknown> };
}

if (backends().includes('postgres')) {
  describe('[postgres] database unavailable: 503 and recovery', () => {
    let database: TestDatabase;
    let outage: Outage;
    let t: TestLatch;
    const appName = `latch_outage_${randomId(8).toLowerCase()}`;
    // A dead connection must never surface as an uncaught exception (it would crash a real server).
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);

    before(async () => {
      process.on('uncaughtException', onUncaught);
      database = await freshDatabase('postgres');
      const url = new URL(database.url);
      outage = new Outage(await freePort(), { host: url.hostname, port: Number(url.port || 5432) });
      await outage.up();
      url.host = `127.0.0.1:${outage.port}`;
      url.searchParams.set('application_name', appName);
      t = await startLatch('postgres', { database: { ...database, url: url.toString() } });
    });
    after(async () => {
      process.off('uncaughtException', onUncaught);
      await t?.stop();
      await outage?.up().catch(() => {});
      await outage?.down();
      await database?.drop();
    });

    test('database down: readiness and every admin endpoint answer 503 JSON; back up: everything recovers without a restart', async () => {
      const created = await adminJson(t, 'POST', '/admin/v1/users', { username: 'before-outage' });
      assert.equal(created.status, 201);
      assert.deepEqual(await readiness(t), { public: 200, admin: 200, body: { status: 'ok', database: 'ok' } });

      await outage.down();
      const ready = await readiness(t);
      assert.equal(ready.public, 503);
      assert.equal(ready.admin, 503);
      assert.equal(ready.body.status, 'unavailable');
      assert.equal(ready.body.error, 'temporarily_unavailable');
      assert.equal((await fetch(`${t.issuer}/health/live`)).status, 200, 'the process itself is alive');

      unavailable(await adminRaw(t, 'GET', '/admin/v1/users'));
      unavailable(await adminRaw(t, 'GET', `/admin/v1/users/${created.json.id}`));
      unavailable(await adminJson(t, 'POST', '/admin/v1/users', { username: 'during-outage', password: 'password-123' }));
      unavailable(await adminJson(t, 'PATCH', `/admin/v1/users/${created.json.id}`, { name: 'x' }));
      unavailable(await adminRaw(t, 'DELETE', `/admin/v1/users/${created.json.id}`));
      unavailable(await adminJson(t, 'POST', '/admin/v1/clients', { grant_types: ['client_credentials'] }));
      unavailable(await adminRaw(t, 'GET', '/admin/v1/clients'));
      unavailable(await adminRaw(t, 'GET', '/admin/v1/clients/abc'));
      unavailable(await adminJson(t, 'PATCH', '/admin/v1/clients/abc', { client_name: 'x' }));
      unavailable(await adminRaw(t, 'DELETE', '/admin/v1/clients/abc'));
      unavailable(await adminRaw(t, 'POST', '/admin/v1/clients/abc/secret'));
      unavailable(await adminRaw(t, 'GET', '/admin/v1/audit'));
      // Bad input is still reported as bad input, without touching the database.
      assert.equal((await adminJson(t, 'POST', '/admin/v1/users', { username: 7 })).status, 400);

      await outage.up();
      assert.deepEqual(await readiness(t), { public: 200, admin: 200, body: { status: 'ok', database: 'ok' } });
      const list = await adminRaw(t, 'GET', '/admin/v1/users');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.json.users.map((u: { username: string }) => u.username),
        ['before-outage'],
        'nothing was written during the outage',
      );
      assert.equal((await adminJson(t, 'POST', '/admin/v1/users', { username: 'after-outage' })).status, 201);
      assert.deepEqual(uncaught.map(String), [], 'no uncaught exception from a dropped connection');
    });

    test('the server kills the pool’s connections (failover): requests answer 503 or succeed, never 500, and recover', async () => {
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      try {
        const statuses: number[] = [];
        const killedPids: number[] = [];
        for (let round = 0; round < 5; round++) {
          // Fill the pool with idle connections, then kill them all from the server side.
          await Promise.all(Array.from({ length: 4 }, () => adminRaw(t, 'GET', '/admin/v1/users')));
          const killed = await admin.query('select pid, pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [appName]);
          assert.ok((killed.rowCount ?? 0) > 0, 'the pool had connections to kill');
          killedPids.push(...killed.rows.map((r: { pid: number }) => r.pid));
          const results = await Promise.all([
            adminRaw(t, 'GET', '/admin/v1/users'),
            adminJson(t, 'POST', '/admin/v1/users', { username: `failover-${round}` }),
            fetch(`${t.adminUrl}/health/ready`).then(async (r) => ({ status: r.status, text: await r.text() })),
          ]);
          for (const r of results) {
            assert.ok(r.status === 200 || r.status === 201 || r.status === 503, `${r.status} ${r.text}`);
            if (r.status === 503) assert.match(r.text, /temporarily_unavailable|unavailable/);
          }
          statuses.push(...results.map((r) => r.status));
        }
        assert.ok(!statuses.includes(500));
        // Recovered: once the killed server processes are gone, the pool reconnects by itself. A request
        // may still draw a connection whose death has not been noticed yet (503), so allow a few attempts.
        for (let i = 0; i < 100; i++) {
          const left = await admin.query('select count(*)::int as n from pg_stat_activity where pid = any($1)', [killedPids]);
          if (left.rows[0].n === 0) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        const attempts: number[] = [];
        for (let i = 0; i < 10 && attempts.at(-1) !== 200; i++) attempts.push((await adminRaw(t, 'GET', '/admin/v1/users')).status);
        assert.equal(attempts.at(-1), 200, `recovered (statuses ${attempts.join(', ')})`);
        assert.ok(attempts.every((s) => s === 200 || s === 503));
        assert.equal((await fetch(`${t.adminUrl}/health/ready`)).status, 200);
        assert.deepEqual(uncaught.map(String), [], 'no uncaught exception from a dead connection');
      } finally {
        await admin.end();
      }
    });
  });
}

describe('[sqlite] database unavailable: write lock held elsewhere -> 503, then recovery', () => {
  let t: TestLatch;
  let holder: BetterSqlite3.Database;

  before(async () => {
    t = await startLatch('sqlite');
    holder = new BetterSqlite3(sqlitePath(t.database.url));
  });
  after(async () => {
    if (holder.inTransaction) holder.exec('rollback');
    holder.close();
    await t.close();
  });

  test('writes answer 503 temporarily_unavailable while another process holds the write lock; reads and readiness keep working', async () => {
    const before = await adminJson(t, 'POST', '/admin/v1/users', { username: 'before-lock' });
    assert.equal(before.status, 201);

    holder.exec('begin immediate');
    try {
      // Waits out the busy timeout, then answers 503 rather than hanging or failing with 500.
      unavailable(await adminJson(t, 'POST', '/admin/v1/users', { username: 'during-lock', password: 'password-123' }));
      // WAL: readers are not blocked by a writer.
      assert.equal((await adminRaw(t, 'GET', '/admin/v1/users')).status, 200);
      assert.equal((await fetch(`${t.adminUrl}/health/ready`)).status, 200);
    } finally {
      holder.exec('rollback');
    }

    const after = await adminJson(t, 'POST', '/admin/v1/users', { username: 'after-lock' });
    assert.equal(after.status, 201, after.text);
    const names = (await adminRaw(t, 'GET', '/admin/v1/users')).json.users.map((u: { username: string }) => u.username);
    assert.deepEqual(names, ['before-lock', 'after-lock']);
  });
});
