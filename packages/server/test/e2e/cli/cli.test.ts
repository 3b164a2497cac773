/**
 * The `latch` CLI, spawned as a real process against a temp SQLite file
 * and, when LATCH_TEST_PG_URL is set, a throwaway PostgreSQL database. Errors print one clear line
 * (never a stack trace) and exit with code 1.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { verifyPassword } from '../../../src/crypto/password.ts';
import { secretMatches } from '../../../src/crypto/random.ts';
import { checkToken } from '../../../src/domain/token-format.ts';
import { openDatabase } from '../../../src/storage/db.ts';
import { createStorage } from '../../../src/storage/index.ts';
import type { Storage } from '../../../src/storage/repositories.ts';
import { backends } from '../../support/backends.ts';
import { type CliDatabase, type CliResult, cliDatabase, runCli, tempDir } from './run-cli.ts';

/** Asserts a failed command: exit code 1, the expected message on stderr, no stack trace. */
function assertCliError(r: CliResult, message: RegExp): void {
  const context = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 1, context);
  assert.match(r.stderr, message, context);
  assert.doesNotMatch(r.stderr, /^\s+at .+:\d+/m, `no stack trace: ${context}`);
  assert.doesNotMatch(r.stderr, /node:internal|Error: /, `no raw error dump: ${context}`);
}

/** Asserts success and returns stdout. */
function ok(r: CliResult): string {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

describe('latch config check / config keys (no database needed)', { concurrency: true }, () => {
  const dir = tempDir();
  after(() => dir.dispose());
  const write = (name: string, text: string) => {
    const path = join(dir.path, name);
    writeFileSync(path, text);
    return path;
  };

  test('a valid configuration passes and is summarized without secrets', async () => {
    const out = ok(
      await runCli(['config', 'check'], {
        cwd: dir.path,
        env: { LATCH_DATABASE_URL: 'postgres://latch:hunter2@db.internal:5432/latch', LATCH_ISSUER: 'https://auth.example.com' },
      }),
    );
    assert.match(out, /^configuration is valid \(issuer https:\/\/auth\.example\.com, database postgres:\/\/\*\*\*@db\.internal:5432\/latch\)\n$/);
    assert.doesNotMatch(out, /hunter2/);
  });

  test('with no configuration at all the defaults are valid (zero-config start)', async () => {
    assert.match(ok(await runCli(['config', 'check'], { cwd: dir.path })), /issuer http:\/\/127\.0\.0\.1:8080, database sqlite:\.\/data\/latch\.db/);
    assert.ok(!existsSync(join(dir.path, 'data')), 'config check creates nothing');
  });

  test('a bad value fails fast naming the key, the value and what is expected', async () => {
    const r = await runCli(['config', 'check'], { cwd: dir.path, env: { LATCH_PUBLIC_PORT: '70000', LATCH_LOG_LEVEL: 'loud' } });
    assertCliError(r, /^Invalid configuration:\n/);
    assert.match(r.stderr, /^ {2}- public\.port \(from LATCH_PUBLIC_PORT\): got 70000; expected a number <= 65535$/m);
    assert.match(
      r.stderr,
      /^ {2}- log\.level \(from LATCH_LOG_LEVEL\): got "loud"; expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"$/m,
    );
    assert.equal(r.stdout, '');
  });

  test('--config and LATCH_CONFIG select the file; --config wins', async () => {
    const good = write('good.yaml', 'issuer: https://from-file.example.com\n');
    const other = write('other.yaml', 'issuer: https://from-env-file.example.com\n');
    assert.match(ok(await runCli(['--config', good, 'config', 'check'], { cwd: dir.path })), /from-file/);
    assert.match(ok(await runCli(['-c', good, 'config', 'check'], { cwd: dir.path })), /from-file/);
    assert.match(ok(await runCli(['config', 'check'], { cwd: dir.path, env: { LATCH_CONFIG: other } })), /from-env-file/);
    assert.match(ok(await runCli(['--config', good, 'config', 'check'], { cwd: dir.path, env: { LATCH_CONFIG: other } })), /from-file/);
    // ./latch.yaml is picked up when nothing else is given.
    const cwd = tempDir();
    try {
      writeFileSync(join(cwd.path, 'latch.yaml'), 'issuer: https://from-cwd.example.com\n');
      assert.match(ok(await runCli(['config', 'check'], { cwd: cwd.path })), /from-cwd/);
    } finally {
      cwd.dispose();
    }
  });

  test('unknown keys, bad YAML and missing files are one clear line each', async () => {
    const unknown = write('unknown.yaml', 'database:\n  urll: sqlite:x.db\nfoo: 1\n');
    const r1 = await runCli(['--config', unknown, 'config', 'check'], { cwd: dir.path });
    assertCliError(r1, /- database\.urll: unknown key \(did you mean database\.url\?\)/);
    assert.match(r1.stderr, /- foo: unknown key; see `latch config keys` for the valid keys/);

    const bad = write('bad.yaml', 'public: [\n');
    assertCliError(await runCli(['--config', bad, 'config', 'check'], { cwd: dir.path }), new RegExp(`- config file ${bad}: not valid YAML: `));
    const missing = join(dir.path, 'missing.yaml');
    assertCliError(await runCli(['--config', missing, 'config', 'check'], { cwd: dir.path }), /cannot be read \(ENOENT\)/);
    assertCliError(await runCli(['config', 'check'], { cwd: dir.path, env: { LATCH_CONFIG: missing } }), /cannot be read \(ENOENT\)/);
    // A bad configuration stops every command, not just `config check`.
    assertCliError(await runCli(['user', 'list'], { cwd: dir.path, env: { LATCH_DATABASE_URL: 'mysql://x' } }), /- database\.url \(from LATCH_DATABASE_URL\)/);
  });

  test('output into a pipe closed early (`latch config keys | head -1`) ends quietly with exit 0', async () => {
    const r = await runCli(['config', 'keys'], { cwd: dir.path, closeStdout: true });
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
  });

  test('config keys lists every key with its variable and default (human, --json, --markdown)', async () => {
    const human = ok(await runCli(['config', 'keys'], { cwd: dir.path }));
    assert.match(human, /^KEY\s+ENV\s+TYPE\s+DEFAULT/);
    assert.match(human, /^database\.url\s+LATCH_DATABASE_URL\s+string\s+sqlite:\.\/data\/latch\.db/m);
    assert.match(human, /^public\.port\s+LATCH_PUBLIC_PORT\s+number\s+8080/m);
    const json = JSON.parse(ok(await runCli(['config', 'keys', '--json'], { cwd: dir.path }))) as { key: string; env: string; default: unknown }[];
    assert.deepEqual(
      json.find((k) => k.key === 'admin.port'),
      { key: 'admin.port', env: 'LATCH_ADMIN_PORT', type: 'number', default: 8081, description: 'Port of the admin API listener (never the public port).' },
    );
    for (const k of ['issuer', 'admin.token', 'database.autoMigrate', 'log.level'])
      assert.ok(
        json.some((x) => x.key === k),
        k,
      );
    const md = ok(await runCli(['config', 'keys', '--markdown'], { cwd: dir.path }));
    assert.match(md, /^\| Key \(`latch\.yaml`\) \| Environment variable \| Type \| Default \| Description \|$/m);
    assert.equal(md.trim().split('\n').length, json.length + 2);
  });

  test('usage errors are one line plus a hint, exit 1', async () => {
    const r = await runCli(['user', 'create'], { cwd: dir.path });
    assertCliError(r, /^error: required option '--username <name>' not specified\n\(add --help for usage\)\n$/);
    assertCliError(await runCli(['frobnicate'], { cwd: dir.path }), /^error: unknown command 'frobnicate'/);
  });
});

for (const backend of backends()) {
  describe(`[${backend}] latch CLI against the database`, () => {
    let db: CliDatabase;
    let storage: Storage;
    const cwd = tempDir();
    const cli = (args: string[], stdin?: string) =>
      runCli(args, { cwd: cwd.path, env: { LATCH_DATABASE_URL: db.url }, ...(stdin !== undefined ? { stdin } : {}) });

    before(async () => {
      db = await cliDatabase(backend);
    });
    after(async () => {
      await storage?.close();
      await db.drop();
      cwd.dispose();
    });

    test('latch migrate creates the schema (and the SQLite directory), then reports it is up to date', async () => {
      assert.equal(ok(await cli(['migrate'])), 'applied: 0001_initial\n');
      if (backend === 'sqlite') assert.ok(existsSync(db.url.slice('sqlite:'.length)));
      assert.match(ok(await cli(['migrate'])), /^up to date/);
      storage = createStorage(openDatabase({ url: db.url }));
    });

    test('latch keys list shows one active RS256 and ES256 key, the same on every call', async () => {
      const first = JSON.parse(ok(await cli(['keys', 'list', '--json']))) as { kid: string; alg: string; state: string }[];
      assert.deepEqual(first.map((k) => `${k.alg}:${k.state}`).sort(), ['ES256:active', 'RS256:active']);
      const again = JSON.parse(ok(await cli(['keys', 'list', '--json']))) as { kid: string }[];
      assert.deepEqual(again.map((k) => k.kid).sort(), first.map((k) => k.kid).sort());
      const human = ok(await cli(['keys', 'list']));
      assert.match(human, /^KID\s+ALG\s+STATE\s+CREATED_AT\s+REMOVE_AFTER\n/);
      for (const k of first) assert.ok(human.includes(k.kid));
    });

    test('latch admin-token stores a new token hash; with admin.token configured it refuses, exit 1', async () => {
      const out = ok(await cli(['admin-token']));
      const token = /^admin token: (lat_adm_\S+)\n$/.exec(out)?.[1];
      assert.ok(token, out);
      assert.equal(await storage.settings.get('admin_token_sha256'), createHash('sha256').update(token).digest('base64url'));
      const json = JSON.parse(ok(await cli(['admin-token', '--json']))) as { admin_token: string };
      assert.equal(checkToken(json.admin_token), 'adm');
      assert.equal(
        await storage.settings.get('admin_token_sha256'),
        createHash('sha256').update(json.admin_token).digest('base64url'),
        'the one shown is stored',
      );
      const refused = await runCli(['admin-token'], {
        cwd: cwd.path,
        env: { LATCH_DATABASE_URL: db.url, LATCH_ADMIN_TOKEN: 'a-configured-admin-token-0123456789abcdef' },
      });
      assertCliError(refused, /^error: admin\.token \(LATCH_ADMIN_TOKEN\) is set/);
      assert.equal(await storage.settings.get('admin_token_sha256'), createHash('sha256').update(json.admin_token).digest('base64url'), 'unchanged');
    });

    test('latch user create --password-stdin, with --email and --json; user list (human and --json)', async () => {
      const out = ok(await cli(['user', 'create', '--username', 'alice', '--password-stdin', '--email', 'alice@example.com'], 'correct horse battery\n'));
      const m = /^created user alice \(id (\S+)\)\n$/.exec(out);
      assert.ok(m, out);
      const alice = await storage.users.lookup(m[1] as string);
      assert.equal(alice?.email, 'alice@example.com');
      assert.equal(await verifyPassword(alice?.passwordHash as string, 'correct horse battery'), true, 'the trailing newline is not part of the password');

      const json = JSON.parse(ok(await cli(['user', 'create', '--username', 'Bob', '--password-stdin', '--json'], 'another password')));
      assert.equal(json.username, 'Bob');
      assert.equal(json.active, true);
      assert.equal(json.password_hash, undefined);
      assert.doesNotMatch(JSON.stringify(json), /argon2|another password/);

      const list = JSON.parse(ok(await cli(['user', 'list', '--json'])));
      assert.deepEqual(
        list.users.map((u: { username: string }) => u.username),
        ['alice', 'Bob'],
      );
      assert.equal(list.next_cursor, null);
      assert.doesNotMatch(JSON.stringify(list), /argon2/);
      const human = ok(await cli(['user', 'list']));
      assert.match(human, /^ID\s+USERNAME\s+EMAIL\s+ACTIVE\n/);
      assert.match(human, /alice\s+alice@example\.com\s+true/);
      const page = JSON.parse(ok(await cli(['user', 'list', '--json', '--limit', '1'])));
      assert.equal(page.users.length, 1);
      const rest = JSON.parse(ok(await cli(['user', 'list', '--json', '--cursor', page.next_cursor])));
      assert.deepEqual(
        rest.users.map((u: { username: string }) => u.username),
        ['Bob'],
      );

      const events = await storage.audit.list({ limit: 10, action: 'user.create' });
      assert.equal(events.items.length, 2);
      assert.match(events.items[0]?.actor ?? '', /^cli:/);
      assert.equal(events.items[0]?.sourceIp, null);
    });

    test('user create errors: duplicate (any case), short password, bad username, bad cursor — one line, exit 1', async () => {
      assertCliError(await cli(['user', 'create', '--username', 'ALICE', '--password-stdin'], 'password-123'), /^error: username: already taken/);
      assertCliError(await cli(['user', 'create', '--username', 'carol', '--password-stdin'], 'short'), /^error: password: must be at least 8 characters\n$/);
      assertCliError(await cli(['user', 'create', '--username', 'has space', '--password-stdin'], 'password-123'), /^error: username: /);
      assertCliError(await cli(['user', 'create', '--username', 'dave', '--email', 'nope'], ''), /^error: email: must be an email address\n$/);
      assertCliError(await cli(['user', 'list', '--cursor', 'garbage']), /^error: cursor/);
      assert.equal(await storage.users.findByUsername('carol'), undefined);
    });

    test('latch client create shows the secret once (--json); list never shows it; rotate-secret and delete', async () => {
      const created = JSON.parse(
        ok(
          await cli([
            'client',
            'create',
            '--name',
            'Notes',
            '--redirect-uri',
            'https://notes.example.com/callback',
            '--redirect-uri',
            'http://127.0.0.1:9000/callback',
            '--scope',
            'openid profile notes:read',
            '--grant-type',
            'authorization_code',
            '--grant-type',
            'refresh_token',
            '--json',
          ]),
        ),
      );
      assert.equal(created.client_name, 'Notes');
      assert.deepEqual(created.redirect_uris, ['https://notes.example.com/callback', 'http://127.0.0.1:9000/callback']);
      assert.deepEqual(created.grant_types, ['authorization_code', 'refresh_token']);
      assert.equal(created.scope, 'openid profile notes:read');
      assert.equal(created.token_endpoint_auth_method, 'client_secret_basic');
      assert.equal(created.source, 'cli');
      const secret = created.client_secret as string;
      assert.equal(checkToken(secret), 'cs');
      const stored = await storage.clients.lookup(created.client_id);
      assert.ok(stored?.secretHash?.equals(createHash('sha256').update(secret).digest()), 'only the SHA-256 of the shown secret is stored');

      const list = ok(await cli(['client', 'list', '--json']));
      assert.ok(!list.includes(secret));
      assert.ok(!list.includes('client_secret"'));
      assert.deepEqual(
        JSON.parse(list).clients.map((c: { client_id: string }) => c.client_id),
        [created.client_id],
      );
      const human = ok(await cli(['client', 'list']));
      assert.match(human, /^CLIENT_ID\s+CLIENT_NAME\s+TOKEN_ENDPOINT_AUTH_METHOD\s+GRANT_TYPES\s+SOURCE\n/);
      assert.ok(human.includes(created.client_id));
      assert.ok(!human.includes(secret));

      const rotated = ok(await cli(['client', 'rotate-secret', created.client_id]));
      const m = /^client_secret: (\S+) {3}\(shown once; store it now\)\n$/.exec(rotated);
      assert.ok(m, rotated);
      const fresh = m[1] as string;
      const after = await storage.clients.lookup(created.client_id);
      assert.equal(secretMatches(fresh, after?.secretHash), true);
      assert.equal(secretMatches(secret, after?.secretHash), false, 'the old secret stops working');
      const again = JSON.parse(ok(await cli(['client', 'rotate-secret', created.client_id, '--json'])));
      assert.equal(again.client_id, created.client_id);
      assert.equal(again.client_name, 'Notes');
      assert.ok(secretMatches(again.client_secret, (await storage.clients.lookup(created.client_id))?.secretHash));

      assert.equal(ok(await cli(['client', 'delete', created.client_id])), `deleted client ${created.client_id}\n`);
      assert.equal(await storage.clients.lookup(created.client_id), undefined);
      assertCliError(await cli(['client', 'delete', created.client_id]), new RegExp(`^error: no client with id ${created.client_id}\\n$`));
      assertCliError(await cli(['client', 'rotate-secret', 'nope']), /^error: no client with id nope\n$/);

      const actions = (await storage.audit.list({ limit: 50, targetType: 'client', targetId: created.client_id })).items.map((e) => e.action);
      assert.deepEqual(actions, ['client.create', 'client.rotate_secret', 'client.rotate_secret', 'client.delete']);
    });

    test('client create refuses a back-channel logout URI the servers of this configuration would never call', async () => {
      const args = [
        'client',
        'create',
        '--name',
        'rp',
        '--redirect-uri',
        'https://rp.example.com/cb',
        '--backchannel-logout-uri',
        'http://127.0.0.1:9000/logout',
        '--json',
      ];
      assertCliError(
        await cli(args),
        /^error: backchannel_logout_uri: Latch does not call this URL: 127\.0\.0\.1 is a loopback address \(the server setting outbound\.allowLoopback is false\)\n$/,
      );
      const allowed = await runCli(args, { cwd: cwd.path, env: { LATCH_DATABASE_URL: db.url, LATCH_OUTBOUND_ALLOW_LOOPBACK: 'true' } });
      assert.equal(JSON.parse(ok(allowed)).backchannel_logout_uri, 'http://127.0.0.1:9000/logout');
    });

    test('client create: human output, --public, client_credentials default, native app scheme', async () => {
      const human = ok(await cli(['client', 'create', '--name', 'worker', '--scope', 'jobs:run']));
      const id = /^client_id: {5}(\S+)\n/.exec(human)?.[1];
      assert.ok(id, human);
      assert.match(human, /\nclient_secret: lat_cs_\S+ {3}\(shown once; store it now\)\n$/);
      assert.deepEqual((await storage.clients.lookup(id))?.metadata.grant_types, ['client_credentials']);

      const pub = JSON.parse(ok(await cli(['client', 'create', '--name', 'spa', '--redirect-uri', 'https://spa.example.com/cb', '--public', '--json'])));
      assert.equal(pub.token_endpoint_auth_method, 'none');
      assert.equal(pub.client_secret, undefined);
      assertCliError(
        await cli(['client', 'rotate-secret', pub.client_id]),
        /^error: token_endpoint_auth_method: a client using "none" has no secret to rotate\n$/,
      );

      const native = JSON.parse(
        ok(await cli(['client', 'create', '--name', 'app', '--redirect-uri', 'com.example.app:/oauth2redirect', '--public', '--json'])),
      );
      assert.equal(native.application_type, 'native');
      assert.deepEqual(native.redirect_uris, ['com.example.app:/oauth2redirect']);
    });

    test('client create errors name the field: bad redirect URI, bad grant type, bad scope', async () => {
      assertCliError(
        await cli(['client', 'create', '--name', 'x', '--redirect-uri', 'http://evil.example.com/cb']),
        /^error: redirect_uris: "http:\/\/evil\.example\.com\/cb" must use https/,
      );
      assertCliError(await cli(['client', 'create', '--name', 'x', '--redirect-uri', 'https://ok.example.com/cb#frag']), /^error: redirect_uris: .*fragment/);
      assertCliError(await cli(['client', 'create', '--name', 'x', '--grant-type', 'password']), /^error: grant_types: "password" is not supported/);
      assertCliError(await cli(['client', 'create', '--name', 'x', '--grant-type', 'client_credentials', '--scope', 'a "b"']), /^error: scope: /);
      assertCliError(await cli(['client', 'create', '--name', 'x', '--grant-type', 'client_credentials', '--public']), /^error: grant_types: /);
    });
  });
}

describe('latch CLI: unreachable database', () => {
  test('a database that refuses connections is one clear line, exit 1', async () => {
    const r = await runCli(['user', 'list'], { env: { LATCH_DATABASE_URL: 'postgres://latch@127.0.0.1:1/latch' } });
    assertCliError(r, /^error: cannot reach the database \(connect ECONNREFUSED 127\.0\.0\.1:1\)\n$/);
  });
});
