import type { Kysely, Selectable } from 'kysely';
import type { AuthorizationCodeRecord, AuthorizationCodeRepository } from '../repositories.ts';
import type { AuthorizationCodesTable, Database } from '../schema.ts';
import { affected, joinScope, parseList, splitScope } from './codec.ts';

const toCode = (r: Selectable<AuthorizationCodesTable>): AuthorizationCodeRecord => ({
  id: r.id,
  clientId: r.client_id,
  userId: r.user_id,
  browserSessionId: r.browser_session_id,
  redirectUri: r.redirect_uri,
  redirectUriSent: r.redirect_uri_sent === 1,
  scope: splitScope(r.scope),
  codeChallenge: r.code_challenge,
  codeChallengeMethod: r.code_challenge_method,
  nonce: r.nonce,
  authTime: r.auth_time,
  amr: parseList(r.amr),
  acr: r.acr,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  consumedAt: r.consumed_at,
  sessionId: r.session_id,
});

export function authorizationCodeRepository(db: Kysely<Database>): AuthorizationCodeRepository {
  return {
    async add(c) {
      const row = {
        code_hash: c.hash,
        client_id: c.clientId,
        user_id: c.userId,
        browser_session_id: c.browserSessionId,
        redirect_uri: c.redirectUri,
        redirect_uri_sent: c.redirectUriSent ? 1 : 0,
        scope: joinScope(c.scope),
        code_challenge: c.codeChallenge,
        code_challenge_method: c.codeChallengeMethod,
        nonce: c.nonce,
        auth_time: c.authTime,
        amr: c.amr ? JSON.stringify(c.amr) : null,
        acr: c.acr,
        created_at: c.createdAt,
        expires_at: c.expiresAt,
        consumed_at: null,
        session_id: null,
      };
      const { id } = await db.insertInto('authorization_codes').values(row).returning('id').executeTakeFirstOrThrow();
      return toCode({ id, ...row });
    },
    async findByHash(hash) {
      const r = await db.selectFrom('authorization_codes').selectAll().where('code_hash', '=', hash).executeTakeFirst();
      return r && toCode(r);
    },
    async consume(id, sessionId, now) {
      const res = await db
        .updateTable('authorization_codes')
        .set({ consumed_at: now, session_id: sessionId })
        .where('id', '=', id)
        .where('consumed_at', 'is', null)
        .executeTakeFirst();
      return affected(res) === 1;
    },
    async cleanup(before) {
      return affected(await db.deleteFrom('authorization_codes').where('expires_at', '<', before).executeTakeFirst());
    },
  };
}
