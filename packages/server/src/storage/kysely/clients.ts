import { type Kysely, PostgresAdapter, type Selectable, type SqlBool, sql } from 'kysely';
import type { Client } from '../../domain/client.ts';
import type { ClientRepository, NewClient } from '../repositories.ts';
import type { ClientsTable, Database } from '../schema.ts';
import { after, requireCursor, toPage } from './pagination.ts';

const toBuffer = (v: Buffer | Uint8Array | null) => (v === null ? null : Buffer.isBuffer(v) ? v : Buffer.from(v));

export const toClient = (r: Selectable<ClientsTable>): Client => ({
  clientId: r.client_id,
  secretHash: toBuffer(r.secret_hash),
  metadata: JSON.parse(r.metadata),
  skipConsent: r.skip_consent === 1,
  introspectAnyToken: r.introspect_any === 1,
  accessTokenTtl: r.access_token_ttl,
  refreshTokenPolicy: (r.refresh_token_policy ?? 'always') as Client['refreshTokenPolicy'],
  registrationAccessTokenHash: toBuffer(r.registration_access_token_hash),
  source: r.source as Client['source'],
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export function clientRepository(db: Kysely<Database>): ClientRepository {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  // Grant types live in the metadata JSON: look inside the grant_types array (a LIKE over the whole
  // document would also match a client_name or scope that happens to equal a grant type).
  const hasGrantType = (grantType: string) =>
    postgres
      ? sql<SqlBool>`(metadata::jsonb -> 'grant_types') @> ${JSON.stringify([grantType])}::jsonb`
      : sql<SqlBool>`exists (select 1 from json_each(metadata, '$.grant_types') where value = ${grantType})`;
  return {
    async add(c: NewClient) {
      const row: Selectable<ClientsTable> = {
        client_id: c.clientId,
        secret_hash: c.secretHash,
        metadata: JSON.stringify(c.metadata),
        client_name: c.metadata.client_name ?? null,
        token_endpoint_auth_method: c.metadata.token_endpoint_auth_method,
        skip_consent: c.skipConsent ? 1 : 0,
        introspect_any: c.introspectAnyToken ? 1 : 0,
        access_token_ttl: c.accessTokenTtl,
        refresh_token_policy: c.refreshTokenPolicy ?? null,
        registration_access_token_hash: c.registrationAccessTokenHash,
        source: c.source,
        created_at: c.now,
        updated_at: c.now,
        secret_rotated_at: null,
      };
      await db.insertInto('clients').values(row).execute();
      return toClient(row);
    },
    async lookup(clientId) {
      const r = await db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
      return r && toClient(r);
    },
    async list({ limit, cursor, source, grantType }) {
      const c = requireCursor(cursor);
      let q = db.selectFrom('clients').selectAll();
      if (c) q = q.where(after('client_id', c));
      if (source) q = q.where('source', '=', source);
      if (grantType) q = q.where(hasGrantType(grantType));
      const rows = await q
        .orderBy('created_at')
        .orderBy('client_id')
        .limit(limit + 1)
        .execute();
      return toPage(rows, limit, toClient, (r) => ({ createdAt: r.created_at, key: r.client_id }));
    },
    async update(clientId, ch, now) {
      const set: Partial<ClientsTable> = { updated_at: now };
      if (ch.metadata !== undefined) {
        set.metadata = JSON.stringify(ch.metadata);
        set.client_name = ch.metadata.client_name ?? null;
        set.token_endpoint_auth_method = ch.metadata.token_endpoint_auth_method;
      }
      if (ch.secretHash !== undefined) {
        set.secret_hash = ch.secretHash;
        set.secret_rotated_at = now;
      }
      if (ch.skipConsent !== undefined) set.skip_consent = ch.skipConsent ? 1 : 0;
      if (ch.introspectAnyToken !== undefined) set.introspect_any = ch.introspectAnyToken ? 1 : 0;
      if (ch.accessTokenTtl !== undefined) set.access_token_ttl = ch.accessTokenTtl;
      if (ch.refreshTokenPolicy !== undefined) set.refresh_token_policy = ch.refreshTokenPolicy;
      if (ch.registrationAccessTokenHash !== undefined) set.registration_access_token_hash = ch.registrationAccessTokenHash;
      const res = await db.updateTable('clients').set(set).where('client_id', '=', clientId).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return undefined;
      return this.lookup(clientId);
    },
    async remove(clientId) {
      const res = await db.deleteFrom('clients').where('client_id', '=', clientId).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}
