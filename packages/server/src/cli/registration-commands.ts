import type { Command } from 'commander';
import type { LatchConfig } from '../config/schema.ts';
import { systemClock } from '../domain/clock.ts';
import { OAuthError } from '../domain/errors.ts';
import { initialAccessTokenView, MAX_IAT_LIFETIME, MAX_IAT_USES, RegistrationService, registrationLimits } from '../services/registration.ts';
import type { Storage } from '../storage/repositories.ts';
import { cliActor, clientService, type GlobalOptions, printTable, withStorage } from './context.ts';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "3600", "90s", "15m", "12h", "30d" → seconds. */
export function parseDuration(value: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(value.trim());
  const seconds = m ? Number(m[1]) * (UNITS[m[2] || 's'] as number) : Number.NaN;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_IAT_LIFETIME) {
    throw new OAuthError('invalid_request', `--expires-in: "${value}" is not a duration such as 3600, 90s, 15m, 12h or 30d (at most 366d)`);
  }
  return seconds;
}

function parseUses(value: string): number {
  const n = /^\d{1,7}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_IAT_USES)
    throw new OAuthError('invalid_request', `--max-uses: "${value}" is not a whole number from 1 to ${MAX_IAT_USES}`);
  return n;
}

function parseId(value: string): number {
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1) throw new OAuthError('invalid_request', `"${value}" is not an initial access token id`);
  return Number(value);
}

const service = (storage: Storage, config: LatchConfig) =>
  new RegistrationService({
    storage,
    clients: clientService(storage, config),
    clock: systemClock,
    policy: config.registration.policy,
    limits: registrationLimits(config.registration),
  });

/** `latch registration token create|list|revoke`: initial access tokens for RFC 7591 registration. */
export function registrationCommands(program: Command): void {
  const global = () => program.opts<GlobalOptions>();
  const registration = program.command('registration').description('dynamic client registration (RFC 7591)');
  const token = registration.command('token').description('initial access tokens, required to register when registration.policy is initial_access_token');

  token
    .command('create')
    .description('issue an initial access token (printed once; only its hash is stored)')
    .option('--description <text>', 'what the token is for (shown in lists)')
    .option('--expires-in <duration>', 'lifetime, e.g. 3600, 15m, 12h, 30d (default: no expiry)')
    .option('--max-uses <n>', 'how many clients it may register (default: unlimited)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { description?: string; expiresIn?: string; maxUses?: string; json?: boolean }) => {
      const input = {
        description: opts.description ?? null,
        expiresIn: opts.expiresIn !== undefined ? parseDuration(opts.expiresIn) : null,
        maxUses: opts.maxUses !== undefined ? parseUses(opts.maxUses) : null,
      };
      if (input.description !== null && (input.description.length > 200 || /[\u0000-\u001f\u007f]/.test(input.description))) {
        throw new OAuthError('invalid_request', '--description: at most 200 characters, without control characters');
      }
      await withStorage(global(), async (storage, config) => {
        const { token: value, record } = await service(storage, config).createInitialAccessToken(input, cliActor());
        if (opts.json) console.log(JSON.stringify(initialAccessTokenView(record, systemClock(), value), null, 2));
        else {
          console.log(`id:                   ${record.id}`);
          console.log(`initial_access_token: ${value}   (shown once; store it now)`);
          if (config.registration.policy !== 'initial_access_token') {
            console.error(`note: registration.policy is "${config.registration.policy}", so registration does not ask for this token`);
          }
        }
      });
    });

  token
    .command('list')
    .description('list initial access tokens (never the tokens themselves)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) =>
      withStorage(global(), async (storage, config) => {
        const now = systemClock();
        const rows = (await service(storage, config).listInitialAccessTokens()).map((t) => initialAccessTokenView(t, now));
        if (opts.json) console.log(JSON.stringify({ initial_access_tokens: rows }, null, 2));
        else printTable(rows, ['id', 'status', 'uses', 'max_uses', 'expires_at', 'description']);
      }),
    );

  token
    .command('revoke')
    .description('revoke an initial access token at once')
    .argument('<id>', 'token id (from `latch registration token list`)')
    .action(async (id: string) => {
      const numeric = parseId(id);
      await withStorage(global(), async (storage, config) => {
        const result = await service(storage, config).revokeInitialAccessToken(numeric, cliActor());
        if (result === 'not_found') throw new OAuthError('not_found', `no initial access token with id ${numeric}`);
        console.log(result === 'revoked' ? `revoked initial access token ${numeric}` : `initial access token ${numeric} was already revoked`);
      });
    });
}
