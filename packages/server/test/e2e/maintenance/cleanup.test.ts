import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken, newDeviceId, newSessionId } from '../../../src/crypto/random.ts';
import { Maintenance } from '../../../src/services/maintenance.ts';
import { SessionService } from '../../../src/services/sessions.ts';
import { type DatabaseHandle, migrateToLatest, openDatabase } from '../../../src/storage/db.ts';
import { createStorage } from '../../../src/storage/index.ts';
import type { Storage } from '../../../src/storage/repositories.ts';
import { backends, freshDatabase, type TestDatabase } from '../../support/backends.ts';

const HOUR = 3_600_000;

for (const backend of backends()) {
  describe(`[${backend}] clean-up of expired rows`, () => {
    let database: TestDatabase;
    let handle: DatabaseHandle;
    let storage: Storage;
    before(async () => {
      database = await freshDatabase(backend);
      handle = openDatabase({ url: database.url, ...(database.pgSchema ? { pgSchema: database.pgSchema } : {}) });
      await migrateToLatest(handle);
      storage = createStorage(handle);
    });
    after(async () => {
      await storage.close();
      await database.drop();
    });

    test('deletes tokens, codes and assertion ids only once they are past expiry plus retention', async () => {
      const now = 10 * 24 * HOUR;
      await storage.clients.add({
        clientId: 'cleanup-client',
        secretHash: null,
        metadata: {
          redirect_uris: [],
          grant_types: ['client_credentials'],
          response_types: [],
          token_endpoint_auth_method: 'client_secret_basic',
          application_type: 'web',
        },
        skipConsent: false,
        introspectAnyToken: false,
        accessTokenTtl: null,
        refreshTokenPolicy: 'always',
        registrationAccessTokenHash: null,
        source: 'admin',
        now,
      } as Parameters<Storage['clients']['add']>[0]);
      const user = await storage.users.add({ id: 'cleanup-user', username: 'cleanup', passwordHash: null, email: null, emailVerified: false, name: null, now });
      const session = await storage.sessions.add({
        sid: newSessionId(now),
        userId: user.id,
        clientId: 'cleanup-client',
        deviceId: newDeviceId(),
        browserSessionId: null,
        scope: ['read'],
        authTime: now,
        amr: null,
        acr: null,
        now,
      });
      const old = mintToken('at');
      const recent = mintToken('at');
      await storage.accessTokens.add({
        hash: old.hash,
        sessionId: session.id,
        clientId: 'cleanup-client',
        scope: ['read'],
        createdAt: now - 3 * HOUR,
        expiresAt: now - 2 * HOUR,
      });
      await storage.accessTokens.add({
        hash: recent.hash,
        sessionId: session.id,
        clientId: 'cleanup-client',
        scope: ['read'],
        createdAt: now - HOUR,
        expiresAt: now - HOUR / 2,
      });
      const oldRt = mintToken('rt');
      const liveRt = mintToken('rt');
      await storage.refreshTokens.add({
        hash: oldRt.hash,
        sessionId: session.id,
        accessTokenId: null,
        scope: ['read'],
        createdAt: now - 5 * HOUR,
        expiresAt: now - 2 * HOUR,
      });
      await storage.refreshTokens.add({
        hash: liveRt.hash,
        sessionId: session.id,
        accessTokenId: null,
        scope: ['read'],
        createdAt: now,
        expiresAt: now + HOUR,
      });
      const code = mintToken('ac');
      await storage.authorizationCodes.add({
        hash: code.hash,
        clientId: 'cleanup-client',
        userId: user.id,
        browserSessionId: null,
        redirectUri: 'https://app.example/cb',
        redirectUriSent: true,
        scope: ['read'],
        codeChallenge: null,
        codeChallengeMethod: null,
        nonce: null,
        authTime: now,
        amr: null,
        acr: null,
        createdAt: now - 3 * HOUR,
        expiresAt: now - 3 * HOUR + 60_000,
      });
      await storage.clientAssertionJtis.addIfAbsent('cleanup-client', 'old-jti', now - 1);
      await storage.clientAssertionJtis.addIfAbsent('cleanup-client', 'live-jti', now + 60_000);

      const report = await new Maintenance(storage, new SessionService(), () => now, {
        intervalSeconds: 0,
        retentionSeconds: 3600,
        sessionIdleSeconds: 86_400,
      }).runOnce();
      assert.deepEqual(report, { sessionsExpired: 0, accessTokens: 1, refreshTokens: 1, authorizationCodes: 1, clientAssertionJtis: 1 });
      assert.equal(await storage.accessTokens.findByHash(old.hash), undefined);
      assert.ok(await storage.accessTokens.findByHash(recent.hash), 'expired less than the retention ago: kept');
      assert.equal(await storage.refreshTokens.findByHash(oldRt.hash), undefined);
      assert.ok(await storage.refreshTokens.findByHash(liveRt.hash));
      assert.equal(await storage.authorizationCodes.findByHash(code.hash), undefined);
      assert.equal(await storage.clientAssertionJtis.addIfAbsent('cleanup-client', 'old-jti', now + 60_000), true, 'expired jti forgotten');
      assert.equal(await storage.clientAssertionJtis.addIfAbsent('cleanup-client', 'live-jti', now + 60_000), false, 'live jti still blocks replay');
    });

    test('sessions unused for the idle lifetime end by policy, announcing user sessions through the session events', async () => {
      const now = 40 * 24 * HOUR;
      const announced: string[] = [];
      const ender = new SessionService({
        async sessionFinished(_repos, session, reason) {
          announced.push(`${session.sid}:${reason}`);
        },
      });
      const start = (userId: string | null, lastActive: number) =>
        storage.sessions.add({
          sid: newSessionId(lastActive),
          userId,
          clientId: 'cleanup-client',
          deviceId: newDeviceId(),
          browserSessionId: null,
          scope: ['read'],
          authTime: lastActive,
          amr: null,
          acr: null,
          now: lastActive,
        });
      const idleUser = await start('cleanup-user', now - 3 * 24 * HOUR);
      const activeUser = await start('cleanup-user', now - HOUR);
      const idleMachine = await start(null, now - 3 * 24 * HOUR);
      const rt = mintToken('rt');
      await storage.refreshTokens.add({
        hash: rt.hash,
        sessionId: idleUser.id,
        accessTokenId: null,
        scope: ['read'],
        createdAt: now - 3 * 24 * HOUR,
        expiresAt: now + HOUR,
      });

      const report = await new Maintenance(storage, ender, () => now, {
        intervalSeconds: 0,
        retentionSeconds: 3600,
        sessionIdleSeconds: 2 * 24 * 3600,
      }).runOnce();
      assert.ok(report.sessionsExpired >= 2, `expected the two idle sessions to end, got ${report.sessionsExpired}`);
      assert.equal((await storage.sessions.lookup(idleUser.id))?.finishReason, 'idle_timeout');
      assert.equal((await storage.sessions.lookup(idleMachine.id))?.finishReason, 'idle_timeout');
      assert.equal((await storage.sessions.lookup(activeUser.id))?.finishedAt, null, 'a recently used session stays');
      assert.ok((await storage.refreshTokens.findByHash(rt.hash))?.revokedAt, "the idle session's refresh token is revoked");
      assert.ok(announced.includes(`${idleUser.sid}:idle_timeout`), 'the user session end was announced');
      assert.ok(!announced.some((a) => a.startsWith(idleMachine.sid)), 'client_credentials sessions have nobody to tell');
    });
  });
}
