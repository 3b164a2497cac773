/**
 * Seeds the benchmark database with one user, one confidential code-flow client and N sessions,
 * each holding one fresh refresh token, and writes the tokens (one per line) to a file. Tokens are
 * minted exactly as the server mints them (only their hashes are stored).
 *   node --import tsx bench/seed-refresh.ts <sqlite-url> <client_id> <count> <out-file>
 */
import { createWriteStream } from 'node:fs';
import { mintToken, newDeviceId, newSessionId } from '../packages/server/src/crypto/random.ts';
import { migrateToLatest, openDatabase } from '../packages/server/src/storage/db.ts';
import { createStorage } from '../packages/server/src/storage/index.ts';

const [url, clientId, countText, outFile] = process.argv.slice(2);
if (!url || !clientId || !countText || !outFile) throw new Error('usage: seed-refresh.ts <db-url> <client_id> <count> <out-file>');
const count = Number(countText);
const handle = openDatabase({ url });
await migrateToLatest(handle);
const storage = createStorage(handle);
const now = Date.now();
const user = await storage.users.add({
  id: 'benchuser0000000000000',
  username: 'bench-user',
  passwordHash: null,
  email: null,
  emailVerified: false,
  name: null,
  now,
});
const out = createWriteStream(outFile);
const BATCH = 500;
for (let done = 0; done < count; done += BATCH) {
  const tokens: string[] = [];
  await Promise.all(
    Array.from({ length: Math.min(BATCH, count - done) }, () =>
      storage.transaction(async (repos) => {
        const session = await repos.sessions.add({
          sid: newSessionId(now),
          userId: user.id,
          clientId,
          deviceId: newDeviceId(),
          browserSessionId: null,
          scope: ['read', 'write'],
          authTime: now,
          amr: ['pwd'],
          acr: null,
          now,
        });
        const rt = mintToken('rt');
        await repos.refreshTokens.add({
          hash: rt.hash,
          sessionId: session.id,
          accessTokenId: null,
          scope: ['read', 'write'],
          createdAt: now,
          expiresAt: now + 86_400_000,
        });
        tokens.push(rt.token);
      }),
    ),
  );
  out.write(`${tokens.join('\n')}\n`);
}
await new Promise((resolve) => out.end(resolve));
await storage.close();
console.log(`seeded ${count} refresh tokens for client ${clientId}`);
