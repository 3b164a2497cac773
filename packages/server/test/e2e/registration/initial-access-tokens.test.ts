import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkToken } from '../../../src/domain/token-format.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { bearer, call, register, testClock, WIDE_LIMITS } from './helpers.ts';

const sha256 = (v: string) => createHash('sha256').update(v).digest();
const MAIN = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const minimal = { grant_types: ['client_credentials'] };

interface IatView {
  id: number;
  initial_access_token?: string;
  description: string | null;
  status: string;
  uses: number;
  max_uses: number | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

/** The database URL a separate CLI process uses to reach this test's database (PostgreSQL: its schema). */
function cliDatabaseUrl(t: TestLatch): string {
  const { url, pgSchema } = t.database;
  if (!pgSchema) return url;
  return `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${pgSchema}`)}`;
}

for (const backend of backends()) {
  describe(`[${backend}] initial access tokens: admin API`, () => {
    let t: TestLatch;
    const clock = testClock(Date.parse('2030-01-01T00:00:00Z'));
    before(async () => {
      t = await startLatch(backend, { config: WIDE_LIMITS, clock });
    });
    after(() => t.close());

    test('create returns the token once with its settings; only its hash is stored; list never shows it', async () => {
      const res = await t.admin<IatView>('POST', '/admin/v1/initial-access-tokens', { description: 'partner onboarding', expires_in: 3600, max_uses: 3 });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('location'), `/admin/v1/initial-access-tokens/${res.body.id}`);
      const token = res.body.initial_access_token as string;
      assert.equal(checkToken(token), 'iat');
      assert.match(token, /^lat_iat_/);
      assert.deepEqual(
        { ...res.body, initial_access_token: undefined },
        {
          id: res.body.id,
          initial_access_token: undefined,
          description: 'partner onboarding',
          status: 'active',
          uses: 0,
          max_uses: 3,
          created_at: '2030-01-01T00:00:00.000Z',
          expires_at: '2030-01-01T01:00:00.000Z',
          revoked_at: null,
        },
      );
      const list = await t.admin<{ initial_access_tokens: IatView[] }>('GET', '/admin/v1/initial-access-tokens');
      assert.equal(list.status, 200);
      const row = list.body.initial_access_tokens.find((x) => x.id === res.body.id);
      assert.ok(row);
      assert.equal(row.initial_access_token, undefined);
      assert.ok(!JSON.stringify(list.body).includes(token));
      // Stored: the SHA-256 only.
      const stored = await t.latch.db.db.selectFrom('initial_access_tokens').selectAll().where('id', '=', res.body.id).executeTakeFirstOrThrow();
      assert.deepEqual(Buffer.from(stored.token_hash), sha256(token));
      assert.ok(!JSON.stringify(stored).includes(token.slice(8, 40)));
    });

    test('defaults: no description, no expiry, unlimited uses; an empty body is fine', async () => {
      for (const body of [{}, undefined]) {
        const res = await t.admin<IatView>('POST', '/admin/v1/initial-access-tokens', body);
        assert.equal(res.status, 201);
        assert.equal(res.body.description, null);
        assert.equal(res.body.expires_at, null);
        assert.equal(res.body.max_uses, null);
        assert.equal(res.body.status, 'active');
      }
    });

    test('invalid input is a 400 naming the field', async () => {
      const cases: [unknown, string][] = [
        [{ expires_in: 0 }, 'expires_in'],
        [{ expires_in: -5 }, 'expires_in'],
        [{ expires_in: 1.5 }, 'expires_in'],
        [{ expires_in: '3600' }, 'expires_in'],
        [{ expires_in: 400 * 24 * 3600 }, 'expires_in'],
        [{ max_uses: 0 }, 'max_uses'],
        [{ max_uses: 'many' }, 'max_uses'],
        [{ description: 42 }, 'description'],
        [{ description: 'x'.repeat(201) }, 'description'],
        [{ description: 'nul\u0000byte' }, 'description'],
        [{ scope: 'admin' }, 'scope'],
      ];
      for (const [body, field] of cases) {
        const res = await t.admin('POST', '/admin/v1/initial-access-tokens', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error, 'invalid_request');
        assert.equal(res.body.field, field, JSON.stringify(body));
      }
      for (const raw of ['[1]', '"x"', '{"max_uses":']) {
        const res = await t.admin('POST', '/admin/v1/initial-access-tokens', raw);
        assert.equal(res.status, 400, raw);
      }
    });

    test('status follows uses, expiry and revocation; DELETE is 204, idempotent, and 404 for unknown ids', async () => {
      const limited = await t.admin<IatView>('POST', '/admin/v1/initial-access-tokens', { max_uses: 1 });
      const expiring = await t.admin<IatView>('POST', '/admin/v1/initial-access-tokens', { expires_in: 60 });
      const revoked = await t.admin<IatView>('POST', '/admin/v1/initial-access-tokens', {});
      assert.equal((await register(t, minimal, bearer(limited.body.initial_access_token as string))).status, 201);
      clock.advance(60_000);
      assert.equal((await t.admin('DELETE', `/admin/v1/initial-access-tokens/${revoked.body.id}`)).status, 204);
      assert.equal((await t.admin('DELETE', `/admin/v1/initial-access-tokens/${revoked.body.id}`)).status, 204, 'idempotent');
      const list = await t.admin<{ initial_access_tokens: IatView[] }>('GET', '/admin/v1/initial-access-tokens');
      const status = (id: number) => list.body.initial_access_tokens.find((x) => x.id === id);
      assert.equal(status(limited.body.id)?.status, 'exhausted');
      assert.equal(status(limited.body.id)?.uses, 1);
      assert.equal(status(expiring.body.id)?.status, 'expired');
      assert.equal(status(revoked.body.id)?.status, 'revoked');
      assert.equal(status(revoked.body.id)?.revoked_at, new Date(clock()).toISOString());

      const unknown = await t.admin('DELETE', '/admin/v1/initial-access-tokens/999999');
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error, 'not_found');
      assert.equal((await t.admin('DELETE', '/admin/v1/initial-access-tokens/abc')).status, 400);
      assert.equal((await t.admin('DELETE', '/admin/v1/initial-access-tokens/9007199254740991')).status, 404);
      assert.equal((await t.admin('DELETE', '/admin/v1/initial-access-tokens/99999999999999999999')).status, 400);
      assert.equal((await t.admin('DELETE', '/admin/v1/initial-access-tokens/0')).status, 400);
    });

    test('every mutation is audited, without the token', async () => {
      const created = await t.admin<IatView>('POST', '/admin/v1/initial-access-tokens', { description: 'audited', max_uses: 2 });
      await t.admin('DELETE', `/admin/v1/initial-access-tokens/${created.body.id}`);
      await t.admin('DELETE', `/admin/v1/initial-access-tokens/${created.body.id}`);
      const events = await t.admin<{ events: { actor: string; action: string; details: Record<string, unknown> | null }[] }>(
        'GET',
        `/admin/v1/audit?target_type=initial_access_token&target_id=${created.body.id}`,
      );
      assert.deepEqual(events.body.events.map((e) => `${e.actor} ${e.action}`).sort(), [
        'admin-api initial_access_token.create',
        'admin-api initial_access_token.revoke',
      ]);
      assert.ok(!JSON.stringify(events.body).includes(created.body.initial_access_token as string));
    });

    test('the admin API needs the admin token and is not on the public listener', async () => {
      const anonymous = await call(`${t.adminUrl}/admin/v1/initial-access-tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(anonymous.status, 401);
      assert.equal((await call(`${t.adminUrl}/admin/v1/initial-access-tokens`)).status, 401);
      assert.equal((await call(`${t.issuer}/admin/v1/initial-access-tokens`)).status, 404);
    });
  });

  describe(`[${backend}] initial access tokens: CLI`, () => {
    let t: TestLatch;
    let cwd: string;
    before(async () => {
      t = await startLatch(backend, { config: { 'registration.policy': 'initial_access_token', ...WIDE_LIMITS } });
      cwd = mkdtempSync(join(tmpdir(), 'latch-cli-'));
    });
    after(async () => {
      await t.close();
      rmSync(cwd, { recursive: true, force: true });
    });

    /** Runs `latch <args>` as a separate process against the test's database. */
    const latch = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', TSX, MAIN, ...args],
          {
            cwd,
            env: { PATH: process.env.PATH, USER: 'tester', LATCH_DATABASE_URL: cliDatabaseUrl(t), LATCH_DATABASE_AUTO_MIGRATE: 'false' },
            timeout: 60_000,
          },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });

    test('create --json prints the token once; it registers a client at the running server', async () => {
      const out = await latch('registration', 'token', 'create', '--description', 'from the CLI', '--expires-in', '2h', '--max-uses', '1', '--json');
      assert.equal(out.code, 0, out.stderr);
      const view = JSON.parse(out.stdout) as IatView;
      assert.equal(checkToken(view.initial_access_token as string), 'iat');
      assert.equal(view.description, 'from the CLI');
      assert.equal(view.max_uses, 1);
      assert.equal(view.status, 'active');
      assert.equal(Date.parse(view.expires_at as string) - Date.parse(view.created_at), 2 * 3600 * 1000);
      const res = await register(t, minimal, bearer(view.initial_access_token as string));
      assert.equal(res.status, 201);
      assert.equal((await register(t, minimal, bearer(view.initial_access_token as string))).status, 401, 'max uses 1');

      const events = await t.admin<{ events: { actor: string; action: string }[] }>(
        'GET',
        `/admin/v1/audit?target_type=initial_access_token&target_id=${view.id}`,
      );
      assert.deepEqual(
        events.body.events.map((e) => `${e.actor} ${e.action}`),
        ['cli:tester initial_access_token.create'],
      );
    });

    test('create without --json prints the id and the token; list shows status and uses, never the token', async () => {
      const out = await latch('registration', 'token', 'create', '--description', 'human');
      assert.equal(out.code, 0, out.stderr);
      const token = /initial_access_token: (\S+)/.exec(out.stdout)?.[1] as string;
      const id = Number(/id: +(\d+)/.exec(out.stdout)?.[1]);
      assert.equal(checkToken(token), 'iat');
      assert.equal((await register(t, minimal, bearer(token))).status, 201);

      const table = await latch('registration', 'token', 'list');
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^ID +STATUS +USES +MAX_USES +EXPIRES_AT +DESCRIPTION/);
      assert.match(table.stdout, new RegExp(`^${id} +active +1 +- +- +human`, 'm'));
      assert.ok(!table.stdout.includes(token));

      const json = await latch('registration', 'token', 'list', '--json');
      const rows = (JSON.parse(json.stdout) as { initial_access_tokens: IatView[] }).initial_access_tokens;
      assert.equal(rows.find((r) => r.id === id)?.uses, 1);
      assert.ok(!json.stdout.includes(token));
    });

    test('revoke stops the token at once; revoking again or an unknown id is reported', async () => {
      const created = JSON.parse((await latch('registration', 'token', 'create', '--json')).stdout) as IatView;
      const revoked = await latch('registration', 'token', 'revoke', String(created.id));
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.match(revoked.stdout, new RegExp(`revoked initial access token ${created.id}`));
      assert.equal((await register(t, minimal, bearer(created.initial_access_token as string))).status, 401);
      const again = await latch('registration', 'token', 'revoke', String(created.id));
      assert.equal(again.code, 0);
      assert.match(again.stdout, /already revoked/);
      const unknown = await latch('registration', 'token', 'revoke', '999999');
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no initial access token with id 999999/);
    });

    test('bad arguments fail with a clear one-line message and exit code 1', async () => {
      const cases: [string[], RegExp][] = [
        [['--expires-in', 'soon'], /--expires-in: "soon" is not a duration/],
        [['--expires-in', '0'], /--expires-in/],
        [['--expires-in', '400d'], /at most 366d/],
        [['--max-uses', '0'], /--max-uses: "0"/],
        [['--max-uses', 'lots'], /--max-uses/],
      ];
      // Independent processes that fail before touching the database: run them side by side.
      const outputs = await Promise.all(cases.map(([args]) => latch('registration', 'token', 'create', ...args)));
      for (const [i, [args, message]] of cases.entries()) {
        const out = outputs[i] as Awaited<ReturnType<typeof latch>>;
        assert.equal(out.code, 1, args.join(' '));
        assert.match(out.stderr, message);
        assert.ok(!out.stderr.includes('    at '), 'no stack trace');
        assert.equal(out.stdout, '', 'no token printed');
      }
      const badId = await latch('registration', 'token', 'revoke', 'abc');
      assert.equal(badId.code, 1);
      assert.match(badId.stderr, /"abc" is not an initial access token id/);
    });
  });
}
