import type { Kysely, Selectable } from 'kysely';
import type { AccessTokenRepository, AccessTokenView, RefreshTokenRecord, RefreshTokenRepository } from '../repositories.ts';
import type { Database, RefreshTokensTable } from '../schema.ts';
import { affected, joinScope, splitScope } from './codec.ts';

/** The row of the introspection point query: an access token joined with its session and user. */
export interface AccessTokenViewRow {
  id: number;
  session_id: number;
  client_id: string;
  scope: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  sid: string;
  device_id: string;
  user_id: string | null;
  finished_at: number | null;
  username: string | null;
  deactivated_at: number | null;
}

export const toAccessTokenView = (r: AccessTokenViewRow): AccessTokenView => ({
  id: r.id,
  sessionId: r.session_id,
  clientId: r.client_id,
  scope: splitScope(r.scope),
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  sid: r.sid,
  deviceId: r.device_id,
  userId: r.user_id,
  username: r.username ?? null,
  userDeactivatedAt: r.deactivated_at ?? null,
  sessionFinishedAt: r.finished_at,
});

export function accessTokenRepository(db: Kysely<Database>): AccessTokenRepository {
  return {
    async add(t) {
      const row = {
        token_hash: t.hash,
        session_id: t.sessionId,
        client_id: t.clientId,
        scope: joinScope(t.scope),
        created_at: t.createdAt,
        expires_at: t.expiresAt,
        revoked_at: null,
      };
      const { id } = await db.insertInto('access_tokens').values(row).returning('id').executeTakeFirstOrThrow();
      return {
        id,
        sessionId: t.sessionId,
        clientId: t.clientId,
        scope: [...t.scope],
        createdAt: t.createdAt,
        expiresAt: t.expiresAt,
        revokedAt: null,
      };
    },
    async findByHash(hash) {
      const r = await db
        .selectFrom('access_tokens as t')
        .innerJoin('sessions as s', 's.id', 't.session_id')
        .leftJoin('users as u', 'u.id', 's.user_id')
        .select([
          't.id',
          't.session_id',
          't.client_id',
          't.scope',
          't.created_at',
          't.expires_at',
          't.revoked_at',
          's.sid',
          's.device_id',
          's.user_id',
          's.finished_at',
          'u.username',
          'u.deactivated_at',
        ])
        .where('t.token_hash', '=', hash)
        .executeTakeFirst();
      return r && toAccessTokenView(r);
    },
    async revoke(id, now) {
      return (
        affected(await db.updateTable('access_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst()) === 1
      );
    },
    async revokeBySession(sessionId, now) {
      return affected(
        await db.updateTable('access_tokens').set({ revoked_at: now }).where('session_id', '=', sessionId).where('revoked_at', 'is', null).executeTakeFirst(),
      );
    },
    async cleanup(before) {
      return affected(await db.deleteFrom('access_tokens').where('expires_at', '<', before).executeTakeFirst());
    },
  };
}

export const toRefresh = (r: Selectable<RefreshTokensTable>): RefreshTokenRecord => ({
  id: r.id,
  sessionId: r.session_id,
  accessTokenId: r.access_token_id,
  scope: splitScope(r.scope),
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  consumedAt: r.consumed_at,
  successorId: r.successor_id,
  revokedAt: r.revoked_at,
});

export function refreshTokenRepository(db: Kysely<Database>): RefreshTokenRepository {
  return {
    async add(t) {
      const row = {
        token_hash: t.hash,
        session_id: t.sessionId,
        access_token_id: t.accessTokenId,
        scope: joinScope(t.scope),
        created_at: t.createdAt,
        expires_at: t.expiresAt,
        consumed_at: null,
        successor_id: null,
        revoked_at: null,
      };
      const { id } = await db.insertInto('refresh_tokens').values(row).returning('id').executeTakeFirstOrThrow();
      return toRefresh({ id, ...row });
    },
    async findByHash(hash) {
      const r = await db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
      return r && toRefresh(r);
    },
    async lookup(id) {
      const r = await db.selectFrom('refresh_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toRefresh(r);
    },
    async consume(id, successorId, now) {
      const res = await db
        .updateTable('refresh_tokens')
        .set({ consumed_at: now, successor_id: successorId })
        .where('id', '=', id)
        .where('consumed_at', 'is', null)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return affected(res) === 1;
    },
    async replaceSuccessor(id, expectedSuccessorId, successorId) {
      const res = await db
        .updateTable('refresh_tokens')
        .set({ successor_id: successorId })
        .where('id', '=', id)
        .where('successor_id', '=', expectedSuccessorId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return affected(res) === 1;
    },
    async revokeUnused(id, now) {
      const res = await db
        .updateTable('refresh_tokens')
        .set({ revoked_at: now })
        .where('id', '=', id)
        .where('consumed_at', 'is', null)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return affected(res) === 1;
    },
    async revoke(id, now) {
      return (
        affected(await db.updateTable('refresh_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst()) === 1
      );
    },
    async revokeBySession(sessionId, now) {
      return affected(
        await db.updateTable('refresh_tokens').set({ revoked_at: now }).where('session_id', '=', sessionId).where('revoked_at', 'is', null).executeTakeFirst(),
      );
    },
    async cleanup(before) {
      return affected(await db.deleteFrom('refresh_tokens').where('expires_at', '<', before).executeTakeFirst());
    },
  };
}
