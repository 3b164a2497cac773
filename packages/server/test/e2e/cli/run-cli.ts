/**
 * Spawns the real `latch` CLI (src/cli/main.ts through tsx, as `npm start` / `npm run latch` do)
 * with a clean environment: no inherited LATCH_* variables, only what the test passes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { randomId } from '../../../src/crypto/random.ts';
import type { Backend } from '../../support/backends.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..');
export const CLI_MAIN = join(REPO_ROOT, 'packages/server/src/cli/main.ts');
/** tsx's loader by absolute URL, so the CLI can run from any working directory (e.g. an empty temp dir). */
const TSX = import.meta.resolve('tsx');

/** The parent's environment without any LATCH_* variable (so the developer's settings never leak in). */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LATCH_') && !k.startsWith('NODE_TEST')) env[k] = v;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to completion (`cwd` defaults to the repo root). */
export function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; stdin?: string; cwd?: string /** as `| head` does once it has enough */; closeStdout?: boolean } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, CLI_MAIN, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: cleanEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    if (options.closeStdout) child.stdout.destroy();
    else
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

/** A long-running CLI process (e.g. `serve`) whose output is collected line by line. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private listeners: (() => void)[] = [];

  constructor(args: string[], env: Record<string, string | undefined>) {
    this.child = spawn(process.execPath, ['--import', TSX, CLI_MAIN, ...args], { cwd: REPO_ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      for (const l of this.listeners) l();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      for (const l of this.listeners) l();
    });
    this.exited = new Promise((resolvePromise) => {
      this.child.on('exit', (code, signal) => {
        for (const l of this.listeners) l();
        resolvePromise({ code, signal });
      });
    });
  }

  get lines(): string[] {
    return this.stdout.split('\n').filter((l) => l !== '');
  }

  /** Resolves once a stdout line satisfies `match`; fails when the process exits first or after `timeoutMs`. */
  waitForLine(match: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolvePromise, reject) => {
      const check = () => {
        const line = this.lines.find(match);
        if (line !== undefined) {
          done();
          resolvePromise(line);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`process exited before the expected line\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for a line\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
      };
      this.listeners.push(check);
      check();
    });
  }

  /** JSON log lines (pino) on stdout. */
  get logs(): Record<string, unknown>[] {
    return this.lines.flatMap((l) => {
      try {
        const v = JSON.parse(l);
        return typeof v === 'object' && v !== null ? [v] : [];
      } catch {
        return [];
      }
    });
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** A temp directory removed by `dispose()`. */
export function tempDir(): { path: string; dispose(): void } {
  const path = mkdtempSync(join(tmpdir(), 'latch-cli-'));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

export interface CliDatabase {
  url: string;
  drop(): Promise<void>;
}

/** An empty database the CLI can reach by URL alone: a temp SQLite file or a new PostgreSQL database. */
export async function cliDatabase(backend: Backend, prefix = 'latch_cli'): Promise<CliDatabase> {
  if (backend === 'sqlite') {
    const dir = tempDir();
    return { url: `sqlite:${join(dir.path, 'nested', 'latch.db')}`, drop: async () => dir.dispose() };
  }
  const base = process.env.LATCH_TEST_PG_URL as string;
  const name = `${prefix}_${randomId(10).toLowerCase()}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
