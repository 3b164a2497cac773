import { type Migration, sql } from 'kysely';
import { columnTypes, type Dialect, notNull } from '../dialect.ts';
import type { AnyDb } from './index.ts';

/** Tables for the foundation, the OAuth core and OpenID Connect (docs/architecture.md §2). */
export function initialSchema(dialect: Dialect): Migration {
  const t = columnTypes(dialect);
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('users')
        .addColumn('id', t.text, (c) => c.primaryKey())
        .addColumn('username', t.text, notNull)
        .addColumn('username_normalized', t.text, (c) => c.notNull().unique())
        .addColumn('password_hash', t.text)
        .addColumn('email', t.text)
        .addColumn('email_verified', t.int, (c) => c.notNull().defaultTo(0))
        .addColumn('name', t.text)
        .addColumn('created_at', t.bigint, notNull)
        .addColumn('updated_at', t.bigint, notNull)
        .addColumn('password_changed_at', t.bigint)
        .addColumn('deactivated_at', t.bigint)
        .execute();

      await db.schema
        .createTable('clients')
        .addColumn('client_id', t.text, (c) => c.primaryKey())
        .addColumn('secret_hash', t.blob)
        .addColumn('metadata', t.text, notNull)
        .addColumn('client_name', t.text)
        .addColumn('token_endpoint_auth_method', t.text, notNull)
        .addColumn('skip_consent', t.int, (c) => c.notNull().defaultTo(0))
        .addColumn('introspect_any', t.int, (c) => c.notNull().defaultTo(0))
        .addColumn('access_token_ttl', t.int)
        .addColumn('refresh_token_policy', t.text)
        .addColumn('registration_access_token_hash', t.blob)
        .addColumn('source', t.text, notNull)
        .addColumn('created_at', t.bigint, notNull)
        .addColumn('updated_at', t.bigint, notNull)
        .addColumn('secret_rotated_at', t.bigint)
        .execute();
      await db.schema.createIndex('clients_created').on('clients').columns(['created_at', 'client_id']).execute();

      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', t.text, (c) => c.primaryKey())
        .addColumn('alg', t.text, notNull)
        .addColumn('state', t.text, notNull)
        .addColumn('private_jwk', t.text, notNull)
        .addColumn('public_jwk', t.text, notNull)
        .addColumn('created_at', t.bigint, notNull)
        .addColumn('activated_at', t.bigint)
        .addColumn('retired_at', t.bigint)
        .addColumn('remove_after', t.bigint)
        .execute();

      await db.schema
        .createTable('settings')
        .addColumn('name', t.text, (c) => c.primaryKey())
        .addColumn('value', t.text, notNull)
        .addColumn('updated_at', t.bigint, notNull)
        .execute();

      await db.schema
        .createTable('audit_events')
        .addColumn('id', t.rowIdType, t.rowId)
        .addColumn('actor', t.text, notNull)
        .addColumn('action', t.text, notNull)
        .addColumn('target_type', t.text, notNull)
        .addColumn('target_id', t.text)
        .addColumn('details', t.text)
        .addColumn('source_ip', t.text)
        .addColumn('created_at', t.bigint, notNull)
        .execute();

      await db.schema
        .createTable('browser_sessions')
        .addColumn('id', t.rowIdType, t.rowId)
        .addColumn('cookie_hash', t.blob, (c) => c.notNull().unique())
        .addColumn('user_id', t.text, (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('authenticated_at', t.bigint, notNull)
        .addColumn('amr', t.text, notNull)
        .addColumn('acr', t.text)
        .addColumn('created_at', t.bigint, notNull)
        .addColumn('last_active_at', t.bigint, notNull)
        .addColumn('expires_at', t.bigint, notNull)
        .addColumn('finished_at', t.bigint)
        .execute();
      await db.schema.createIndex('browser_sessions_user').on('browser_sessions').column('user_id').execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id', t.rowIdType, t.rowId)
        .addColumn('sid', t.text, (c) => c.notNull().unique())
        .addColumn('user_id', t.text, (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('client_id', t.text, (c) => c.notNull().references('clients.client_id').onDelete('cascade'))
        .addColumn('device_id', t.text, notNull)
        .addColumn('browser_session_id', t.bigint)
        .addColumn('scope', t.text, notNull)
        .addColumn('parent_sid', t.text)
        .addColumn('auth_time', t.bigint)
        .addColumn('amr', t.text)
        .addColumn('acr', t.text)
        .addColumn('nonce', t.text)
        .addColumn('created_at', t.bigint, notNull)
        .addColumn('last_active_at', t.bigint, notNull)
        .addColumn('finished_at', t.bigint)
        .addColumn('finish_reason', t.text)
        .execute();
      // Partial indexes: client_credentials sessions (no user, no browser) add no entries here.
      await db.schema.createIndex('sessions_user').on('sessions').columns(['user_id', 'device_id']).where(sql.ref('user_id'), 'is not', null).execute();
      await db.schema
        .createIndex('sessions_browser')
        .on('sessions')
        .column('browser_session_id')
        .where(sql.ref('browser_session_id'), 'is not', null)
        .execute();

      await db.schema
        .createTable('access_tokens')
        .addColumn('id', t.rowIdType, t.rowId)
        .addColumn('token_hash', t.blob, (c) => c.notNull().unique())
        .addColumn('session_id', t.bigint, notNull)
        .addColumn('client_id', t.text, notNull)
        .addColumn('scope', t.text, notNull)
        .addColumn('created_at', t.bigint, notNull)
        .addColumn('expires_at', t.bigint, notNull)
        .addColumn('revoked_at', t.bigint)
        .execute();
      // Session ids grow over time, so this index appends at its right edge (cheap per token).
      await db.schema.createIndex('access_tokens_session').on('access_tokens').column('session_id').execute();

      await db.schema
        .createTable('refresh_tokens')
        .addColumn('id', t.rowIdType, t.rowId)
        .addColumn('token_hash', t.blob, (c) => c.notNull().unique())
        .addColumn('session_id', t.bigint, notNull)
        .addColumn('access_token_id', t.bigint)
        .addColumn('scope', t.text, notNull)
        .addColumn('created_at', t.bigint, notNull)
        .addColumn('expires_at', t.bigint, notNull)
        .addColumn('consumed_at', t.bigint)
        .addColumn('successor_id', t.bigint)
        .addColumn('revoked_at', t.bigint)
        .execute();
      await db.schema.createIndex('refresh_tokens_session').on('refresh_tokens').column('session_id').execute();

      await db.schema
        .createTable('authorization_codes')
        .addColumn('id', t.rowIdType, t.rowId)
        .addColumn('code_hash', t.blob, (c) => c.notNull().unique())
        .addColumn('client_id', t.text, notNull)
        .addColumn('user_id', t.text, notNull)
        .addColumn('browser_session_id', t.bigint)
        .addColumn('redirect_uri', t.text, notNull)
        .addColumn('redirect_uri_sent', t.int, notNull)
        .addColumn('scope', t.text, notNull)
        .addColumn('code_challenge', t.text)
        .addColumn('code_challenge_method', t.text)
        .addColumn('nonce', t.text)
        .addColumn('auth_time', t.bigint, notNull)
        .addColumn('amr', t.text)
        .addColumn('acr', t.text)
        .addColumn('created_at', t.bigint, notNull)
        .addColumn('expires_at', t.bigint, notNull)
        .addColumn('consumed_at', t.bigint)
        .addColumn('session_id', t.bigint)
        .execute();

      await db.schema
        .createTable('consents')
        .addColumn('user_id', t.text, (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('client_id', t.text, (c) => c.notNull().references('clients.client_id').onDelete('cascade'))
        .addColumn('scope', t.text, notNull)
        .addColumn('created_at', t.bigint, notNull)
        .addColumn('updated_at', t.bigint, notNull)
        .addPrimaryKeyConstraint('consents_pk', ['user_id', 'client_id'])
        .execute();

      await db.schema
        .createTable('client_assertion_jtis')
        .addColumn('client_id', t.text, notNull)
        .addColumn('jti', t.text, notNull)
        .addColumn('expires_at', t.bigint, notNull)
        .addPrimaryKeyConstraint('client_assertion_jtis_pk', ['client_id', 'jti'])
        .execute();

      await db.schema
        .createTable('initial_access_tokens')
        .addColumn('id', t.rowIdType, t.rowId)
        .addColumn('token_hash', t.blob, (c) => c.notNull().unique())
        .addColumn('description', t.text)
        .addColumn('created_at', t.bigint, notNull)
        .addColumn('expires_at', t.bigint)
        .addColumn('max_uses', t.int)
        .addColumn('uses', t.int, (c) => c.notNull().defaultTo(0))
        .addColumn('revoked_at', t.bigint)
        .execute();

      await db.schema
        .createTable('outbox')
        .addColumn('id', t.rowIdType, t.rowId)
        .addColumn('kind', t.text, notNull)
        .addColumn('target', t.text, notNull)
        .addColumn('payload', t.text, notNull)
        .addColumn('dedupe_key', t.text, (c) => c.unique())
        .addColumn('attempts', t.int, (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', t.bigint, notNull)
        .addColumn('next_attempt_at', t.bigint, notNull)
        .addColumn('locked_until', t.bigint)
        .addColumn('locked_by', t.text)
        .addColumn('delivered_at', t.bigint)
        .addColumn('dead_at', t.bigint)
        .addColumn('last_error', t.text)
        .execute();
      await db.schema.createIndex('outbox_pending').on('outbox').column('next_attempt_at').where(sql.ref('delivered_at'), 'is', null).execute();
    },
    async down(db: AnyDb) {
      for (const table of [
        'outbox',
        'initial_access_tokens',
        'client_assertion_jtis',
        'consents',
        'authorization_codes',
        'refresh_tokens',
        'access_tokens',
        'sessions',
        'browser_sessions',
        'audit_events',
        'settings',
        'signing_keys',
        'clients',
        'users',
      ]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}
