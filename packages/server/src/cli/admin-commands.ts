import type { Command } from 'commander';
import { configKeys } from '../config/load.ts';
import { configReferenceMarkdown } from '../config/reference.ts';
import { systemClock } from '../domain/clock.ts';
import { publicUser } from '../domain/user.ts';
import { BackchannelLogout } from '../oidc/backchannel-logout.ts';
import { AdminTokenVerifier } from '../services/admin-token.ts';
import { clientView } from '../services/clients.ts';
import { SessionService } from '../services/sessions.ts';
import { UserService } from '../services/users.ts';
import { cliActor, clientService, type GlobalOptions, printTable, readConfig, readStdin, withStorage } from './context.ts';
import { keyCommands } from './key-commands.ts';

/** Sessions ended from the CLI still announce themselves: the events wait in the outbox for a server's dispatcher. */
const cliSessions = () => new SessionService(new BackchannelLogout());

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function adminCommands(program: Command): void {
  const global = () => program.opts<GlobalOptions>();

  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(async () => {
      const config = readConfig(global());
      const { migrateToLatest, openDatabase, pendingMigrations } = await import('../storage/db.ts');
      const db = openDatabase({ url: config.database.url, poolSize: 2 });
      try {
        const pending = await pendingMigrations(db);
        const { applied } = await migrateToLatest(db);
        console.log(applied.length ? `applied: ${applied.join(', ')}` : `up to date (${pending.length} pending before)`);
      } finally {
        await db.close();
      }
    });

  const config = program.command('config').description('inspect configuration');
  config
    .command('check')
    .description('validate latch.yaml and LATCH_* variables without starting')
    .action(() => {
      const c = readConfig(global());
      console.log(`configuration is valid (issuer ${c.issuer}, database ${c.database.url.replace(/\/\/[^@]*@/, '//***@')})`);
    });
  config
    .command('keys')
    .description('list every configuration key with its environment variable and default')
    .option('--json', 'machine-readable output')
    .option('--markdown', 'the README configuration reference table')
    .action((opts: { json?: boolean; markdown?: boolean }) => {
      if (opts.markdown) {
        process.stdout.write(configReferenceMarkdown());
        return;
      }
      const keys = configKeys().map((k) => ({
        key: k.path.join('.'),
        env: k.env,
        type: k.values ? k.values.join('|') : k.kind,
        default: typeof k.defaultValue === 'object' && k.defaultValue !== null ? JSON.stringify(k.defaultValue) : k.defaultValue,
        description: k.description,
      }));
      if (opts.json) console.log(JSON.stringify(keys, null, 2));
      else printTable(keys, ['key', 'env', 'type', 'default']);
    });

  const keys = program.command('keys').description('signing keys');
  keyCommands(keys, global);

  program
    .command('admin-token')
    .description('replace the stored admin API token and print the new one; running servers switch to it within seconds')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) =>
      withStorage(global(), async (storage, config) => {
        // A configured token is the only one accepted: a stored one would never work.
        if (config.admin.token) {
          throw new Error('admin.token (LATCH_ADMIN_TOKEN) is set, so it is the only admin token accepted; change it there instead');
        }
        const token = await AdminTokenVerifier.reset(storage.settings, systemClock);
        console.log(opts.json ? JSON.stringify({ admin_token: token }, null, 2) : `admin token: ${token}`);
      }),
    );

  const user = program.command('user').description('manage users');
  user
    .command('create')
    .description('create a user')
    .requiredOption('--username <name>', 'username (unique, case-insensitive)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--email <email>', 'email address')
    .option('--name <name>', 'display name')
    .option('--json', 'machine-readable output')
    .action(async (opts: { username: string; passwordStdin?: boolean; email?: string; name?: string; json?: boolean }) => {
      const password = opts.passwordStdin ? await readStdin() : undefined;
      await withStorage(global(), async (storage) => {
        const created = await new UserService(storage, systemClock, cliSessions()).create(
          { username: opts.username, password, email: opts.email, name: opts.name },
          cliActor(),
        );
        if (opts.json) console.log(JSON.stringify(publicUser(created), null, 2));
        else console.log(`created user ${created.username} (id ${created.id})`);
      });
    });
  user
    .command('list')
    .description('list users')
    .option('--query <text>', 'filter by username')
    .option('--limit <n>', 'page size', '100')
    .option('--cursor <cursor>', 'continue from a previous page')
    .option('--json', 'machine-readable output')
    .action(async (opts: { query?: string; limit: string; cursor?: string; json?: boolean }) =>
      withStorage(global(), async (storage) => {
        const page = await new UserService(storage, systemClock, cliSessions()).list({ limit: Number(opts.limit), cursor: opts.cursor, query: opts.query });
        const users = page.items.map(publicUser);
        if (opts.json) console.log(JSON.stringify({ users, next_cursor: page.nextCursor ?? null }, null, 2));
        else {
          printTable(users, ['id', 'username', 'email', 'active']);
          if (page.nextCursor) console.log(`more: --cursor ${page.nextCursor}`);
        }
      }),
    );
  user
    .command('deactivate')
    .description('deactivate a user (they can no longer sign in)')
    .argument('<id>', 'user id')
    .action(async (id: string) =>
      withStorage(global(), async (storage) => {
        const u = await new UserService(storage, systemClock, cliSessions()).deactivate(id, cliActor());
        if (!u) throw new Error(`no user with id ${id}`);
        console.log(`deactivated ${u.username}`);
      }),
    );

  const client = program.command('client').description('manage OAuth clients');
  client
    .command('create')
    .description('register a client (prints the secret once)')
    .requiredOption('--name <name>', 'client_name shown on the consent page')
    .option('--redirect-uri <uri>', 'redirect URI (repeatable)', collect, [])
    .option('--post-logout-redirect-uri <uri>', 'post-logout redirect URI (repeatable)', collect, [])
    .option('--grant-type <type>', 'grant type (repeatable): authorization_code, refresh_token, client_credentials', collect, [])
    .option('--scope <scopes>', 'space-separated scopes the client may request (patterns like read:* allowed)')
    .option('--public', 'public client (token_endpoint_auth_method none, PKCE required)')
    .option('--auth-method <method>', 'token_endpoint_auth_method')
    .option('--skip-consent', 'first-party client: no consent page')
    .option('--introspect-any-token', 'may introspect tokens of other clients (resource servers)')
    .option('--backchannel-logout-uri <uri>', 'OIDC back-channel logout URI')
    .option('--json', 'machine-readable output')
    .action(async (opts: Record<string, unknown>) =>
      withStorage(global(), async (storage, config) => {
        const grantTypes = opts.grantType as string[];
        const body: Record<string, unknown> = {
          client_name: opts.name,
          redirect_uris: opts.redirectUri,
          grant_types: grantTypes.length
            ? grantTypes
            : (opts.redirectUri as string[]).length
              ? ['authorization_code', 'refresh_token']
              : ['client_credentials'],
          token_endpoint_auth_method: opts.public ? 'none' : (opts.authMethod ?? 'client_secret_basic'),
        };
        if (opts.scope) body.scope = opts.scope;
        if ((opts.postLogoutRedirectUri as string[]).length) body.post_logout_redirect_uris = opts.postLogoutRedirectUri;
        if (opts.backchannelLogoutUri) body.backchannel_logout_uri = opts.backchannelLogoutUri;
        if ((opts.redirectUri as string[]).some((u) => !/^https?:/.test(u))) body.application_type = 'native';
        if (opts.skipConsent) body.skip_consent = true;
        if (opts.introspectAnyToken) body.introspect_any_token = true;
        const created = await clientService(storage, config).create(body, cliActor(), { source: 'cli' });
        const view = clientView(created.client, created);
        if (opts.json) console.log(JSON.stringify(view, null, 2));
        else {
          console.log(`client_id:     ${created.client.clientId}`);
          if (created.clientSecret) console.log(`client_secret: ${created.clientSecret}   (shown once; store it now)`);
        }
      }),
    );
  client
    .command('list')
    .description('list clients')
    .option('--limit <n>', 'page size', '100')
    .option('--cursor <cursor>', 'continue from a previous page')
    .option('--json', 'machine-readable output')
    .action(async (opts: { limit: string; cursor?: string; json?: boolean }) =>
      withStorage(global(), async (storage, config) => {
        const page = await clientService(storage, config).list({ limit: Number(opts.limit), cursor: opts.cursor });
        const clients = page.items.map((c) => clientView(c));
        if (opts.json) console.log(JSON.stringify({ clients, next_cursor: page.nextCursor ?? null }, null, 2));
        else printTable(clients, ['client_id', 'client_name', 'token_endpoint_auth_method', 'grant_types', 'source']);
      }),
    );
  client
    .command('delete')
    .description('delete a client and everything issued to it')
    .argument('<client_id>', 'client id')
    .action(async (clientId: string) =>
      withStorage(global(), async (storage, config) => {
        if (!(await clientService(storage, config).remove(clientId, cliActor()))) throw new Error(`no client with id ${clientId}`);
        console.log(`deleted client ${clientId}`);
      }),
    );
  client
    .command('rotate-secret')
    .description('issue a new client secret (the old one stops working, on running servers within 5 s)')
    .argument('<client_id>', 'client id')
    .option('--json', 'machine-readable output (the client, as the admin API shows it, with the new client_secret)')
    .action(async (clientId: string, opts: { json?: boolean }) =>
      withStorage(global(), async (storage, config) => {
        const r = await clientService(storage, config).rotateSecret(clientId, cliActor());
        if (!r) throw new Error(`no client with id ${clientId}`);
        if (opts.json) console.log(JSON.stringify(clientView(r.client, r), null, 2));
        else console.log(`client_secret: ${r.clientSecret}   (shown once; store it now)`);
      }),
    );
}
