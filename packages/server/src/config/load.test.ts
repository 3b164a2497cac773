import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, configKeys, loadConfig } from './load.ts';
import { configReferenceMarkdown, REFERENCE_END, REFERENCE_START, withReference } from './reference.ts';

const dir = mkdtempSync(join(tmpdir(), 'latch-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const yamlFile = (text: string) => {
  const path = join(dir, `latch-${++n}.yaml`);
  writeFileSync(path, text);
  return path;
};

/** The problems of a ConfigError (fails when loading succeeds or throws something else). */
function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${err}`);
    assert.match(err.message, /^Invalid configuration:\n {2}- /);
    return err.problems;
  }
  assert.fail('expected the configuration to be rejected');
}

const load = (env: NodeJS.ProcessEnv, extra: { file?: string; overrides?: Record<string, unknown> } = {}) =>
  loadConfig({ env, file: extra.file ?? yamlFile('{}'), ...(extra.overrides ? { overrides: extra.overrides } : {}) });

describe('config: defaults (zero configuration)', () => {
  test('an empty file and environment give the documented defaults', () => {
    const c = load({});
    assert.equal(c.issuer, 'http://127.0.0.1:8080');
    assert.equal(c.public.host, '127.0.0.1');
    assert.equal(c.public.port, 8080);
    assert.equal(c.admin.host, '127.0.0.1');
    assert.equal(c.admin.port, 8081);
    assert.equal(c.admin.token, undefined);
    assert.equal(c.database.url, 'sqlite:./data/latch.db');
    assert.equal(c.database.autoMigrate, true);
    assert.equal(c.log.level, 'info');
  });

  test('an empty YAML file is an empty configuration', () => {
    assert.equal(load({}, { file: yamlFile('') }).public.port, 8080);
    assert.equal(load({}, { file: yamlFile('# only a comment\n') }).public.port, 8080);
  });
});

describe('config: environment mapping', () => {
  test('LATCH_DATABASE_URL, LATCH_ISSUER, LATCH_PUBLIC_PORT, LATCH_ADMIN_PORT, LATCH_ADMIN_TOKEN', () => {
    const c = load({
      LATCH_DATABASE_URL: 'postgres://latch:pw@db.internal:5432/latch',
      LATCH_ISSUER: 'https://auth.example.com',
      LATCH_PUBLIC_PORT: '9000',
      LATCH_ADMIN_PORT: '9001',
      LATCH_ADMIN_TOKEN: 'a'.repeat(40),
      LATCH_TOKENS_ACCESS_TOKEN_TTL: '120',
      LATCH_PUBLIC_HOST: '0.0.0.0',
    });
    assert.equal(c.database.url, 'postgres://latch:pw@db.internal:5432/latch');
    assert.equal(c.issuer, 'https://auth.example.com');
    assert.equal(c.public.port, 9000);
    assert.equal(c.admin.port, 9001);
    assert.equal(c.admin.token, 'a'.repeat(40));
    assert.equal(c.tokens.accessTokenTtl, 120);
    assert.equal(c.public.host, '0.0.0.0');
  });

  test('keys.promoteAfter is 0 or at least the JWKS cache lifetime', () => {
    assert.equal(load({ LATCH_KEYS_PROMOTE_AFTER: '390' }).keys.promoteAfter, 390);
    assert.equal(load({ LATCH_KEYS_PROMOTE_AFTER: '0' }).keys.promoteAfter, 0);
    const [problem] = problems(() => load({ LATCH_KEYS_PROMOTE_AFTER: '389' }));
    assert.match(problem ?? '', /keys\.promoteAfter.*LATCH_KEYS_PROMOTE_AFTER.*at least 390 seconds/);
  });

  test('booleans accept true/false, 1/0, yes/no, on/off in any case', () => {
    for (const v of ['true', 'TRUE', '1', 'yes', 'On']) assert.equal(load({ LATCH_PUBLIC_TRUST_PROXY: v }).public.trustProxy, true, v);
    for (const v of ['false', 'False', '0', 'no', 'OFF']) assert.equal(load({ LATCH_DATABASE_AUTO_MIGRATE: v }).database.autoMigrate, false, v);
  });

  test('mappings are JSON in the environment; empty variables are ignored', () => {
    assert.deepEqual(load({ LATCH_SCOPES_DESCRIPTIONS: '{"notes:read":"Read your notes"}' }).scopes.descriptions, { 'notes:read': 'Read your notes' });
    assert.equal(load({ LATCH_PUBLIC_PORT: '' }).public.port, 8080);
  });

  test('every key has a LATCH_ variable derived from its path, unique, with a description', () => {
    const keys = configKeys();
    assert.ok(keys.length >= 20);
    assert.equal(new Set(keys.map((k) => k.env)).size, keys.length);
    for (const k of keys) {
      assert.equal(k.env, `LATCH_${k.path.map((p) => p.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()).join('_')}`);
      assert.ok(k.description.length > 10, `${k.path.join('.')} has a description`);
    }
    const url = keys.find((k) => k.path.join('.') === 'database.url');
    assert.equal(url?.env, 'LATCH_DATABASE_URL');
    assert.equal(url?.defaultValue, 'sqlite:./data/latch.db');
    assert.deepEqual(keys.find((k) => k.env === 'LATCH_LOG_LEVEL')?.values, ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
  });
});

describe('config: precedence file < environment < overrides', () => {
  test('the environment wins over the file, overrides win over both; untouched file values stay', () => {
    const file = yamlFile('public:\n  port: 7000\n  host: 10.0.0.1\nadmin:\n  port: 7001\nlog:\n  level: warn\n');
    const fromFile = load({}, { file });
    assert.equal(fromFile.public.port, 7000);
    assert.equal(fromFile.admin.port, 7001);
    const withEnv = load({ LATCH_PUBLIC_PORT: '7100', LATCH_ADMIN_PORT: '7101' }, { file });
    assert.equal(withEnv.public.port, 7100);
    assert.equal(withEnv.admin.port, 7101);
    assert.equal(withEnv.public.host, '10.0.0.1', 'siblings from the file stay');
    const withOverrides = load({ LATCH_PUBLIC_PORT: '7100' }, { file, overrides: { 'public.port': 7200 } });
    assert.equal(withOverrides.public.port, 7200);
    assert.equal(withOverrides.log.level, 'warn');
  });

  test('LATCH_CONFIG names the file; an explicit file (--config) wins over it', () => {
    const a = yamlFile('public:\n  port: 7300\n');
    const b = yamlFile('public:\n  port: 7400\n');
    assert.equal(loadConfig({ env: { LATCH_CONFIG: a } }).public.port, 7300);
    assert.equal(loadConfig({ env: { LATCH_CONFIG: a }, file: b }).public.port, 7400);
  });
});

describe('config: errors name the key, the bad value and what is expected', () => {
  test('wrong values from the environment', () => {
    const p = problems(() =>
      load({
        LATCH_PUBLIC_PORT: '70000',
        LATCH_ADMIN_PORT: 'eighty',
        LATCH_LOG_LEVEL: 'loud',
        LATCH_DATABASE_AUTO_MIGRATE: 'perhaps',
        LATCH_DATABASE_URL: 'mysql://localhost/latch',
        LATCH_TOKENS_ACCESS_TOKEN_TTL: '0',
        LATCH_DATABASE_POOL_SIZE: '1.5',
      }),
    );
    assert.deepEqual(p.sort(), [
      'admin.port (from LATCH_ADMIN_PORT): got "eighty"; expected a number',
      'database.autoMigrate (from LATCH_DATABASE_AUTO_MIGRATE): got "perhaps"; expected true or false',
      'database.poolSize (from LATCH_DATABASE_POOL_SIZE): got 1.5; expected a whole number',
      'database.url (from LATCH_DATABASE_URL): got "mysql://localhost/latch"; expected sqlite:<path> or postgres://…',
      'log.level (from LATCH_LOG_LEVEL): got "loud"; expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"',
      'public.port (from LATCH_PUBLIC_PORT): got 70000; expected a number <= 65535',
      'tokens.accessTokenTtl (from LATCH_TOKENS_ACCESS_TOKEN_TTL): got 0; expected a number > 0',
    ]);
  });

  test('wrong values from the file name the key without an environment variable', () => {
    const p = problems(() => load({}, { file: yamlFile('public:\n  port: "8080"\nlog:\n  requests: 3\n') }));
    assert.deepEqual(p.sort(), ['log.requests: got 3; expected true or false', 'public.port: got "8080"; expected a number']);
  });

  test('the issuer must be an absolute http(s) URL, https unless loopback, without query or fragment', () => {
    assert.deepEqual(
      problems(() => load({ LATCH_ISSUER: 'ftp://auth.example.com' })),
      ['issuer (from LATCH_ISSUER): got "ftp://auth.example.com"; expected an absolute http(s) URL'],
    );
    assert.deepEqual(
      problems(() => load({ LATCH_ISSUER: 'http://auth.example.com' })),
      ['issuer (from LATCH_ISSUER): got "http://auth.example.com"; expected an https URL (http is only allowed on loopback)'],
    );
    assert.match(problems(() => load({ LATCH_ISSUER: 'https://auth.example.com/?x=1' }))[0] as string, /^issuer .*without query or fragment/);
    assert.equal(load({ LATCH_ISSUER: 'http://localhost:8080' }).issuer, 'http://localhost:8080');
    // RFC 8414 §2: compared as a string; a trailing slash is dropped so issuer + path joins stay exact.
    assert.equal(load({ LATCH_ISSUER: 'https://auth.example.com/tenant/' }).issuer, 'https://auth.example.com/tenant');
  });

  test('unknown keys at any depth are rejected, with a suggestion when one is close', () => {
    const p = problems(() => load({}, { file: yamlFile('foo: 1\ndatabase:\n  urll: sqlite:x.db\npublc:\n  port: 1\n') }));
    assert.deepEqual(p, [
      'foo: unknown key; see `latch config keys` for the valid keys',
      'database.urll: unknown key (did you mean database.url?); see `latch config keys` for the valid keys',
      'publc: unknown key (did you mean public?); see `latch config keys` for the valid keys',
    ]);
    // Entries of a mapping-valued key are data, not keys.
    assert.deepEqual(load({}, { file: yamlFile('scopes:\n  descriptions:\n    anything:goes: Words\n') }).scopes.descriptions, { 'anything:goes': 'Words' });
    assert.deepEqual(
      problems(() => load({}, { overrides: { 'public.prot': 1 } })),
      ['public.prot: unknown key (did you mean public.port?); see `latch config keys` for the valid keys'],
    );
  });

  test('unknown LATCH_* variables are rejected like unknown keys (LATCH_CONFIG and LATCH_TEST_* are not settings); a mapping in a variable is JSON', () => {
    assert.deepEqual(
      problems(() => load({ LATCH_TOKNES_ACCESS_TOKEN_TTL: '60', LATCH_FOO: 'x' })),
      [
        'LATCH_TOKNES_ACCESS_TOKEN_TTL: unknown variable (did you mean LATCH_TOKENS_ACCESS_TOKEN_TTL?); see `latch config keys` for the valid ones',
        'LATCH_FOO: unknown variable; see `latch config keys` for the valid ones',
      ],
    );
    assert.equal(load({ LATCH_TEST_PG_URL: 'postgres://x', LATCH_TEST_REQUIRE_PG: '1', LATCH_TOKENS_ACCESS_TOKEN_TTL: '60' }).tokens.accessTokenTtl, 60);
    assert.deepEqual(
      problems(() => load({ LATCH_SCOPES_DESCRIPTIONS: '{bad' })),
      ['scopes.descriptions (from LATCH_SCOPES_DESCRIPTIONS): got "{bad"; expected a JSON object, e.g. {"name": "value"}'],
    );
    // Other prefixes are none of Latch's business.
    assert.equal(load({ LATCHKEY: 'x', MY_LATCH_THING: 'y' }).tokens.accessTokenTtl, 300);
  });

  test('a section given as a scalar names the section', () => {
    assert.deepEqual(
      problems(() => load({}, { file: yamlFile('database: sqlite:x.db\n') })),
      ['database: got "sqlite:x.db"; expected a mapping (a section of keys)'],
    );
  });

  test('secrets are never echoed: tokens are hidden, URL passwords masked', () => {
    const p = problems(() =>
      load({ LATCH_ADMIN_TOKEN: 'too-short-secret', LATCH_DATABASE_URL: 'mysql://latch:hunter2@db/latch', LATCH_KEYS_ENCRYPTION_KEY: 'tiny' }),
    );
    const text = p.join('\n');
    assert.doesNotMatch(text, /too-short-secret|hunter2|tiny/);
    assert.ok(p.includes('admin.token (from LATCH_ADMIN_TOKEN): got a hidden value of 16 characters; expected at least 32 characters'), text);
    assert.ok(p.includes('database.url (from LATCH_DATABASE_URL): got "mysql://latch:***@db/latch"; expected sqlite:<path> or postgres://…'), text);
  });

  test('unreadable or malformed files fail with the file name', () => {
    assert.deepEqual(
      problems(() => loadConfig({ env: {}, file: join(dir, 'missing.yaml') })),
      [`config file ${join(dir, 'missing.yaml')}: cannot be read (ENOENT); pass an existing file with --config or LATCH_CONFIG`],
    );
    const bad = yamlFile('public: [\n');
    assert.match(problems(() => load({}, { file: bad }))[0] as string, new RegExp(`^config file ${bad}: not valid YAML: `));
    const list = yamlFile('- a\n- b\n');
    assert.deepEqual(
      problems(() => load({}, { file: list })),
      [`config file ${list}: not valid YAML: the top level must be a mapping`],
    );
  });
});

describe('config: README reference table', () => {
  test('one row per key with its variable, type and default', () => {
    const table = configReferenceMarkdown();
    const rows = table.trim().split('\n');
    assert.equal(rows.length, configKeys().length + 2);
    assert.ok(rows.includes('| `public.port` | `LATCH_PUBLIC_PORT` | number | `8080` | Port of the public listener. |'));
    assert.ok(table.includes('| `log.level` | `LATCH_LOG_LEVEL` | `fatal` \\| `error` \\| `warn` \\| `info` \\| `debug` \\| `trace` \\| `silent` | `info` |'));
    assert.ok(table.includes('sqlite:&lt;path&gt;'), 'angle brackets are escaped so Markdown shows them');
  });

  test('withReference replaces the marked block, appends one when missing, and is idempotent', () => {
    const appended = withReference('# Latch\n\nIntro.\n', '| t |\n');
    assert.equal(appended, `# Latch\n\nIntro.\n\n## Configuration reference\n\n${REFERENCE_START}\n| t |\n${REFERENCE_END}\n`);
    const replaced = withReference(appended.replace('Intro.', 'Changed intro.'), '| new |\n');
    assert.ok(replaced.includes(`${REFERENCE_START}\n| new |\n${REFERENCE_END}`));
    assert.ok(replaced.includes('Changed intro.'));
    assert.ok(!replaced.includes('| t |'));
    assert.equal(withReference(replaced, '| new |\n'), replaced);
  });
});
