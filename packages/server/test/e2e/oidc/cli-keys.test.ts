/**
 * `latch keys rotate` and `latch keys promote`, spawned as real processes against a temp SQLite file
 * and, when LATCH_TEST_PG_URL is set, a throwaway PostgreSQL database.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Backend, backends } from '../../support/backends.ts';
import { type CliResult, cliDatabase, runCli, tempDir } from '../cli/run-cli.ts';

interface KeyRow {
  kid: string;
  alg: string;
  state: string;
  remove_after: string | null;
  published: boolean;
}

const database = (backend: Backend) => cliDatabase(backend, 'latch_keys');

function ok(r: CliResult): string {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

for (const backend of backends()) {
  describe(`[${backend}] latch keys rotate / promote`, () => {
    let db: { url: string; drop(): Promise<void> };
    const cwd = tempDir();
    const cli = (args: string[]) => runCli(args, { cwd: cwd.path, env: { LATCH_DATABASE_URL: db.url } });
    before(async () => {
      db = await database(backend);
    });
    after(async () => {
      await db.drop();
      cwd.dispose();
    });

    test('rotate publishes next keys; promote --alg makes one sign and retires the old one; errors are one line', async () => {
      const rotated = JSON.parse(ok(await cli(['keys', 'rotate', '--json']))) as { created: string[]; keys: KeyRow[] };
      assert.equal(rotated.created.length, 2);
      assert.deepEqual(rotated.keys.map((k) => `${k.alg}:${k.state}`).sort(), ['ES256:active', 'ES256:next', 'RS256:active', 'RS256:next']);
      const oldRs = rotated.keys.find((k) => k.alg === 'RS256' && k.state === 'active')?.kid;

      const human = ok(await cli(['keys', 'rotate']));
      assert.match(human, /^a next key is already waiting; nothing published$/m);

      const promoting = await cli(['keys', 'promote', '--alg', 'RS256', '--json']);
      const promoted = JSON.parse(ok(promoting)) as { promoted: string[]; keys: KeyRow[]; warning?: string };
      assert.equal(promoted.promoted.length, 1);
      // Published moments ago: done, with the same warning as the admin API, on stderr and in the JSON.
      const warning = /^rs256-\S+ had been published for less than 390 s \(JWKS cache lifetime plus key reload interval\)/;
      assert.match(promoted.warning ?? '', warning);
      assert.equal(promoting.stderr, `warning: ${promoted.warning}\n`);
      const byKid = new Map(promoted.keys.map((k) => [k.kid, k]));
      assert.equal(byKid.get(promoted.promoted[0] as string)?.state, 'active');
      const retired = byKid.get(oldRs as string);
      assert.equal(retired?.state, 'retired');
      assert.ok(retired?.remove_after && Date.parse(retired.remove_after) > Date.now(), 'a retired key stays published for a while');
      assert.equal(retired?.published, true);
      assert.deepEqual(
        promoted.keys
          .filter((k) => k.alg === 'ES256')
          .map((k) => k.state)
          .sort(),
        ['active', 'next'],
        'ES256 untouched',
      );

      const list = JSON.parse(ok(await cli(['keys', 'list', '--json']))) as KeyRow[];
      assert.deepEqual(list.map((k) => `${k.alg}:${k.state}`).sort(), ['ES256:active', 'ES256:next', 'RS256:active', 'RS256:retired']);

      const bad = await cli(['keys', 'promote', '--alg', 'HS256']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^error: --alg: expected one of RS256, ES256, got "HS256"\n$/);
      assert.match(ok(await cli(['keys', 'promote', '--alg', 'RS256'])), /^no next key to promote; run `latch keys rotate` first$/m);
    });
  });
}
