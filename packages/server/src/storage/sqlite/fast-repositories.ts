/**
 * Hot paths on SQLite (docs/architecture.md §8): token issuance, client authentication and introspection run
 * on every request, so their queries are cached prepared statements instead of query-builder calls
 * (which cost ~20x more per query here). Same SQL semantics and row mapping as the Kysely
 * repositories they override; the storage conformance suite runs against this composition.
 */

import { toClient } from '../kysely/clients.ts';
import { joinScope } from '../kysely/codec.ts';
import { toSession } from '../kysely/sessions.ts';
import { type AccessTokenViewRow, toAccessTokenView, toRefresh } from '../kysely/tokens.ts';
import { toUser } from '../kysely/users.ts';
import type { Repositories } from '../repositories.ts';
import type { SqliteRunner } from './executor.ts';

// biome-ignore lint/suspicious/noExplicitAny: rows come back untyped from better-sqlite3
type Row = any;

export function withSqliteFastPaths(repos: Repositories, ex: SqliteRunner): Repositories {
  const get = (sql: string, ...params: unknown[]): Promise<Row> => {
    const stmt = ex.prepare(sql);
    return stmt.readonly ? ex.read(() => stmt.get(...params)) : ex.run(() => stmt.get(...params));
  };
  const run = (sql: string, ...params: unknown[]) => ex.run(() => ex.prepare(sql).run(...params));

  return {
    ...repos,
    clients: {
      ...repos.clients,
      async lookup(clientId) {
        const r = await get('select * from clients where client_id = ?', clientId);
        return r && toClient(r);
      },
    },
    users: {
      ...repos.users,
      async lookup(id) {
        const r = await get('select * from users where id = ?', id);
        return r && toUser(r);
      },
    },
    sessions: {
      ...repos.sessions,
      async add(s) {
        const scope = joinScope(s.scope);
        const amr = s.amr ? JSON.stringify(s.amr) : null;
        const r = await get(
          `insert into sessions (sid, user_id, client_id, device_id, browser_session_id, scope, parent_sid, auth_time, amr, acr, nonce, created_at, last_active_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null, ?, ?) returning id`,
          s.sid,
          s.userId,
          s.clientId,
          s.deviceId,
          s.browserSessionId,
          scope,
          s.parentSid ?? null,
          s.authTime,
          amr,
          s.acr,
          s.now,
          s.now,
        );
        return toSession({
          id: r.id,
          sid: s.sid,
          user_id: s.userId,
          client_id: s.clientId,
          device_id: s.deviceId,
          browser_session_id: s.browserSessionId,
          scope,
          parent_sid: s.parentSid ?? null,
          auth_time: s.authTime,
          amr,
          acr: s.acr,
          nonce: null,
          created_at: s.now,
          last_active_at: s.now,
          finished_at: null,
          finish_reason: null,
        });
      },
      async lookup(id) {
        const r = await get('select * from sessions where id = ?', id);
        return r && toSession(r);
      },
      // Every refresh touches its session.
      async touch(id, now) {
        await run('update sessions set last_active_at = ? where id = ?', now, id);
      },
    },
    accessTokens: {
      ...repos.accessTokens,
      async add(t) {
        const r = await get(
          'insert into access_tokens (token_hash, session_id, client_id, scope, created_at, expires_at) values (?, ?, ?, ?, ?, ?) returning id',
          t.hash,
          t.sessionId,
          t.clientId,
          joinScope(t.scope),
          t.createdAt,
          t.expiresAt,
        );
        return {
          id: r.id,
          sessionId: t.sessionId,
          clientId: t.clientId,
          scope: [...t.scope],
          createdAt: t.createdAt,
          expiresAt: t.expiresAt,
          revokedAt: null,
        };
      },
      async findByHash(hash) {
        const r: AccessTokenViewRow | undefined = await get(
          `select t.id, t.session_id, t.client_id, t.scope, t.created_at, t.expires_at, t.revoked_at,
                  s.sid, s.device_id, s.user_id, s.finished_at, u.username, u.deactivated_at
           from access_tokens t join sessions s on s.id = t.session_id left join users u on u.id = s.user_id
           where t.token_hash = ?`,
          hash,
        );
        return r && toAccessTokenView(r);
      },
    },
    refreshTokens: {
      ...repos.refreshTokens,
      async add(t) {
        const scope = joinScope(t.scope);
        const r = await get(
          'insert into refresh_tokens (token_hash, session_id, access_token_id, scope, created_at, expires_at) values (?, ?, ?, ?, ?, ?) returning id',
          t.hash,
          t.sessionId,
          t.accessTokenId,
          scope,
          t.createdAt,
          t.expiresAt,
        );
        return toRefresh({
          id: r.id,
          token_hash: t.hash,
          session_id: t.sessionId,
          access_token_id: t.accessTokenId,
          scope,
          created_at: t.createdAt,
          expires_at: t.expiresAt,
          consumed_at: null,
          successor_id: null,
          revoked_at: null,
        });
      },
      async findByHash(hash) {
        const r = await get('select * from refresh_tokens where token_hash = ?', hash);
        return r && toRefresh(r);
      },
      async consume(id, successorId, now) {
        // Guarded: only an unconsumed, unrevoked token is consumed (docs/architecture.md §3).
        const res = await run(
          'update refresh_tokens set consumed_at = ?, successor_id = ? where id = ? and consumed_at is null and revoked_at is null',
          now,
          successorId,
          id,
        );
        return res.changes === 1;
      },
    },
  };
}
