/** The guard: bearer parsing (RFC 6750 §2), scopes, audience (RFC 8707), and the §3 challenges. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_ID, CLIENT_SECRET, FakeLatch } from '../test/support/fake-latch.ts';
import { latchToken } from '../test/support/tokens.ts';
import { createGuard, type GuardOptions, type GuardResult, satisfies } from './guard.ts';
import { createIntrospector } from './introspector.ts';

const params = (entries: Record<string, string>) => new URLSearchParams(entries);

function refused(result: GuardResult) {
  assert.equal(result.ok, false);
  return result as Extract<GuardResult, { ok: false }>;
}

describe('guard', () => {
  let latch: FakeLatch;
  let token: string;
  before(async () => {
    latch = await FakeLatch.start();
    token = latchToken();
    latch.addToken(token, { scope: 'notes:read write:syn1', aud: 'https://notes.example/' });
  });
  after(() => latch.close());

  const guard = (options: Partial<GuardOptions> = {}) =>
    createGuard({
      introspector: createIntrospector({ issuer: latch.issuer, client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } }),
      realm: 'notes',
      ...options,
    });

  test('a valid Bearer token gives the principal; the scheme is case-insensitive', async () => {
    for (const header of [`Bearer ${token}`, `bearer ${token}`, `BEARER  ${token}`]) {
      const result = await guard().check({ authorization: header }, { scopes: ['notes:read'] });
      assert.ok(result.ok, header);
      assert.equal(result.principal.sub, 'user-1');
    }
  });

  test('no token, or another scheme: 401 with a challenge and no error code (RFC 6750 §3.1)', async () => {
    for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', 'DPoP abc']) {
      const r = refused(await guard().check({ authorization }));
      assert.equal(r.status, 401);
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="notes"');
    }
  });

  test('malformed headers, huge tokens and bad checksums: 401 invalid_token, without calling Latch', async () => {
    const before = latch.introspections;
    const flipped = token.slice(0, -1) + (token.endsWith('a') ? 'b' : 'a');
    for (const authorization of [
      'Bearer',
      'Bearer ',
      `Bearer ${token} extra`,
      `Bearer ${'a'.repeat(10_000)}`,
      `Bearer ${flipped}`,
      'Bearer ünïcode',
      'Bearer a,b',
    ]) {
      const r = refused(await guard().check({ authorization }));
      assert.equal(r.status, 401, authorization.slice(0, 30));
      assert.match(r.headers['www-authenticate'] as string, /^Bearer realm="notes", error="invalid_token", error_description="[^"]+"$/);
      assert.equal(r.body.error, 'invalid_token');
    }
    assert.equal(latch.introspections, before);
  });

  test('an inactive token: 401 invalid_token', async () => {
    const r = refused(await guard().check({ authorization: `Bearer ${latchToken()}` }));
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_token');
  });

  test('missing scopes: 403 insufficient_scope naming the scopes needed', async () => {
    const r = refused(await guard().check({ authorization: `Bearer ${token}` }, { scopes: ['notes:read', 'notes:write'] }));
    assert.equal(r.status, 403);
    assert.equal(
      r.headers['www-authenticate'],
      'Bearer realm="notes", error="insufficient_scope", error_description="The access token lacks a required scope.", scope="notes:read notes:write"',
    );
    assert.equal(r.body.scope, 'notes:read notes:write');
  });

  test('scope patterns: exact, and prefix patterns like write:*', () => {
    const granted = new Set(['notes:read', 'write:syn1']);
    assert.ok(satisfies(granted, 'notes:read'));
    assert.ok(satisfies(granted, 'write:*'));
    assert.ok(satisfies(granted, 'notes:*'));
    assert.equal(satisfies(granted, 'notes'), false);
    assert.equal(satisfies(granted, 'read:*'), false);
    assert.equal(satisfies(new Set(['write:']), 'write:*'), false, 'the prefix alone is no scope');
    assert.equal(satisfies(new Set(['notes:readx']), 'notes:read'), false);
  });

  test('audience (RFC 8707): required when configured; a token without it is refused', async () => {
    assert.ok((await guard({ audience: 'https://notes.example/' }).check({ authorization: `Bearer ${token}` })).ok);
    const r = refused(await guard({ audience: 'https://billing.example/' }).check({ authorization: `Bearer ${token}` }));
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_token');
    const noAud = latchToken();
    latch.addToken(noAud);
    assert.equal(refused(await guard({ audience: 'https://notes.example/' }).check({ authorization: `Bearer ${noAud}` })).status, 401);
  });

  test('body and query tokens are off by default, and two ways at once is 400 invalid_request', async () => {
    const r = refused(await guard().check({ authorization: undefined, query: params({ access_token: token }), form: params({ access_token: token }) }));
    assert.equal(r.status, 401, 'ignored when not allowed');
    const g = guard({ allowQueryToken: true, allowBodyToken: true });
    assert.ok((await g.check({ authorization: undefined, query: params({ access_token: token }) })).ok);
    assert.ok((await g.check({ authorization: undefined, form: params({ access_token: token }) })).ok);
    const both = refused(await g.check({ authorization: `Bearer ${token}`, query: params({ access_token: token }) }));
    assert.equal(both.status, 400);
    assert.equal(both.body.error, 'invalid_request');
  });

  test('Latch unreachable or failing: 503, never allowed', async () => {
    latch.introspectionStatus = 500;
    try {
      const fresh = latchToken();
      latch.addToken(fresh);
      const r = refused(await guard().check({ authorization: `Bearer ${fresh}` }));
      assert.equal(r.status, 503);
      assert.equal(r.body.error, 'temporarily_unavailable');
    } finally {
      latch.introspectionStatus = undefined;
    }
    const down = createGuard({
      introspector: createIntrospector({ issuer: 'http://127.0.0.1:1', client: { clientId: 'x', clientSecret: 'y' }, timeoutMs: 1000 }),
    });
    assert.equal(refused(await down.check({ authorization: `Bearer ${token}` })).status, 503);
  });

  test('request outcomes reach the metrics hooks', async () => {
    const outcomes: string[] = [];
    const g = createGuard({
      introspector: createIntrospector({
        issuer: latch.issuer,
        client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
        metrics: { request: (o) => outcomes.push(o) },
      }),
    });
    await g.check({ authorization: `Bearer ${token}` });
    await g.check({ authorization: undefined });
    await g.check({ authorization: `Bearer ${token}` }, { scopes: ['admin'] });
    assert.deepEqual(outcomes, ['allowed', 'unauthorized', 'forbidden']);
  });
});
