/**
 * Admin token: with none configured, the first start generates one and stores only its
 * SHA-256 in the settings table; later starts on the same database do not generate another; a
 * configured token is the only one accepted.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { systemClock } from '../../../src/domain/clock.ts';
import { checkToken } from '../../../src/domain/token-format.ts';
import { AdminTokenVerifier } from '../../../src/services/admin-token.ts';
import { backends, freshDatabase, type TestDatabase } from '../../support/backends.ts';
import { ADMIN_TOKEN, startLatch, type TestLatch } from '../../support/latch.ts';

const usersWith = (t: TestLatch, token: string) => fetch(`${t.adminUrl}/admin/v1/users`, { headers: { authorization: `Bearer ${token}` } });

for (const backend of backends()) {
  describe(`[${backend}] admin token generation`, () => {
    let database: TestDatabase;
    const started: TestLatch[] = [];
    const start = async (config: Record<string, unknown>) => {
      const t = await startLatch(backend, { database, config });
      started.push(t);
      return t;
    };
    after(async () => {
      for (const t of started) await t.stop();
      await database?.drop();
    });

    test('first start generates a token, stores only its hash; a second start does not generate; a configured token replaces it', async () => {
      database = await freshDatabase(backend);
      const first = await start({ 'admin.token': undefined });
      const token = first.latch.generatedAdminToken;
      assert.ok(token, 'the first start generated a token');
      assert.equal(checkToken(token), 'adm', 'a well-formed lat_adm_ token with 256 random bits');

      // Only its SHA-256 is stored, in the settings table; the token itself is nowhere in it.
      const rows = await first.latch.db.db.selectFrom('settings').selectAll().execute();
      const stored = rows.find((r) => r.name === 'admin_token_sha256');
      assert.ok(stored);
      assert.equal(stored.value, createHash('sha256').update(token).digest('base64url'));
      assert.ok(!JSON.stringify(rows).includes(token));
      assert.ok(!JSON.stringify(rows).includes(token.split('_')[2] as string), 'not even the random part');

      assert.equal((await usersWith(first, token)).status, 200, 'the generated token authenticates');
      assert.equal((await usersWith(first, ADMIN_TOKEN)).status, 401);
      await first.stop();

      const second = await start({ 'admin.token': undefined });
      assert.equal(second.latch.generatedAdminToken, undefined, 'no second token');
      assert.equal((await usersWith(second, token)).status, 200, 'the stored hash still authenticates after a restart');
      // One character off (the last one is a checksum character, so it may itself be an x).
      assert.equal((await usersWith(second, `${token.slice(0, -1)}${token.endsWith('x') ? 'y' : 'x'}`)).status, 401);
      await second.stop();

      // A configured token (admin.token / LATCH_ADMIN_TOKEN) is the only one accepted.
      const configured = await start({ 'admin.token': ADMIN_TOKEN });
      assert.equal(configured.latch.generatedAdminToken, undefined);
      assert.equal((await usersWith(configured, ADMIN_TOKEN)).status, 200);
      assert.equal((await usersWith(configured, token)).status, 401, 'the generated token is not accepted while one is configured');
    });

    test('processes starting together: exactly one of them mints the token, all accept it', async () => {
      const db = await freshDatabase(backend);
      const t = await startLatch(backend, { database: db });
      try {
        const results = await Promise.all(
          Array.from({ length: 5 }, () => AdminTokenVerifier.init({ configured: undefined, settings: t.latch.storage.settings, clock: systemClock })),
        );
        const minted = results.filter((r) => r.generated);
        assert.equal(minted.length, 1);
        const token = minted[0]?.generated as string;
        for (const r of results) assert.equal(await r.verifier.verify(token), true);
        for (const r of results) assert.equal(await r.verifier.verify(`${token}x`), false);
      } finally {
        await t.stop();
        await db.drop();
      }
    });

    test('`latch admin-token` on a running server: the new token works within a second, the old one stops within five', async () => {
      const db = await freshDatabase(backend);
      let now = Date.now();
      const t = await startLatch(backend, { database: db, config: { 'admin.token': undefined }, clock: () => now });
      try {
        const old = t.latch.generatedAdminToken as string;
        assert.equal((await usersWith(t, old)).status, 200);
        // What the CLI command does, from another process sharing the database.
        const replacement = await AdminTokenVerifier.reset(t.latch.storage.settings, () => now);
        assert.equal((await usersWith(t, replacement)).status, 401, 'not re-read within a second of the last read');
        now += 1000;
        assert.equal((await usersWith(t, replacement)).status, 200, 'a failed check re-reads the stored hash');
        assert.equal((await usersWith(t, old)).status, 401, 'the re-read also retired the old token');
      } finally {
        await t.stop();
        await db.drop();
      }
    });

    test('a replaced token stops working on a server that never sees the new one, once the stored hash is stale', async () => {
      const db = await freshDatabase(backend);
      let now = Date.now();
      const t = await startLatch(backend, { database: db, config: { 'admin.token': undefined }, clock: () => now });
      try {
        const old = t.latch.generatedAdminToken as string;
        await AdminTokenVerifier.reset(t.latch.storage.settings, () => now);
        now += 4000;
        assert.equal((await usersWith(t, old)).status, 200, 'still the hash read at start');
        now += 1000;
        assert.equal((await usersWith(t, old)).status, 401, 'stale after five seconds: re-read, and the old token is gone');
      } finally {
        await t.stop();
        await db.drop();
      }
    });
  });
}
