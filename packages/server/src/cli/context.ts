import { userInfo } from 'node:os';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { LatchConfig } from '../config/schema.ts';
import type { KeyStore } from '../crypto/keys.ts';
import { systemClock } from '../domain/clock.ts';
import { OAuthError } from '../domain/errors.ts';
import type { Actor } from '../services/audit.ts';
import { ClientService } from '../services/clients.ts';
import type { DatabaseHandle } from '../storage/db.ts';
import type { Storage } from '../storage/repositories.ts';

export interface GlobalOptions {
  config?: string;
}

/** Who ran the command, for the audit log: $USER, else the account the process runs as. */
export const cliActor = (): Actor => ({ name: `cli:${process.env.USER || accountName()}`, sourceIp: null });

function accountName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? 'unknown'}`; // no passwd entry (some containers)
  }
}

export function readConfig(options: GlobalOptions): LatchConfig {
  return loadConfig({ file: options.config });
}

/** Client management as the servers with this configuration do it. */
export const clientService = (storage: Storage, config: LatchConfig) =>
  new ClientService(storage, systemClock, { allowLoopback: config.outbound.allowLoopback });

/** Opens the configured database (migrating it when allowed) for a one-shot CLI command. */
export async function withStorage<T>(options: GlobalOptions, work: (storage: Storage, config: LatchConfig, db: DatabaseHandle) => Promise<T>): Promise<T> {
  const config = readConfig(options);
  // Loaded on use: the database drivers are the slowest part of starting the CLI.
  const { migrateToLatest, openDatabase } = await import('../storage/db.ts');
  const { createStorage } = await import('../storage/index.ts');
  const db = openDatabase({ url: config.database.url, poolSize: 2, sqliteSynchronous: config.database.sqliteSynchronous });
  try {
    if (config.database.autoMigrate) await migrateToLatest(db);
    return await work(createStorage(db), config, db);
  } finally {
    await db.close();
  }
}

export async function keyStore(storage: Storage, config: LatchConfig): Promise<KeyStore> {
  const { KeyStore } = await import('../crypto/keys.ts');
  return new KeyStore({
    repo: storage.signingKeys,
    encryptionKey: config.keys.encryptionKey,
    clock: systemClock,
    retireGraceSeconds: Math.max(config.tokens.idTokenTtl, config.tokens.accessTokenTtl) + 300,
    claimBootstrap: () => storage.settings.addIfAbsent('signing_keys_bootstrap', 'claimed', systemClock()),
  });
}

/** Prints a clear one-line error (never a stack trace) and sets the exit code. */
export function reportError(err: unknown): void {
  if (err instanceof ConfigError) console.error(err.message);
  else if (err instanceof OAuthError) console.error(`error: ${err.description}`);
  else if ((err as NodeJS.ErrnoException)?.code === 'ECONNREFUSED') console.error(`error: cannot reach the database (${(err as Error).message})`);
  else if ((err as NodeJS.ErrnoException)?.code === 'EADDRINUSE' || (err as NodeJS.ErrnoException)?.code === 'EADDRNOTAVAIL') {
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    console.error(
      `error: cannot listen on ${e.address}:${e.port} (${e.code}); choose other ports with public.port / LATCH_PUBLIC_PORT and admin.port / LATCH_ADMIN_PORT`,
    );
  } else console.error(`error: ${(err as Error)?.message ?? String(err)}`);
  process.exitCode = 1;
}

export function printTable(rows: Record<string, unknown>[], columns: string[]): void {
  if (rows.length === 0) {
    console.log('(none)');
    return;
  }
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(',') : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  console.log(columns.map((c, i) => c.toUpperCase().padEnd(widths[i] as number)).join('  '));
  for (const r of rows) console.log(columns.map((c, i) => cell(r[c]).padEnd(widths[i] as number)).join('  '));
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
