import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type LatchConfig } from './schema.ts';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface ConfigKey {
  path: string[];
  env: string;
  kind: 'string' | 'number' | 'boolean' | 'enum' | 'record' | 'url';
  description: string;
  defaultValue: unknown;
  values?: string[];
}

// biome-ignore lint/suspicious/noExplicitAny: walking zod internals
type AnySchema = any;

function unwrap(schema: AnySchema): { inner: AnySchema; description: string; defaultValue: unknown } {
  let s = schema;
  let description = s.description ?? '';
  let defaultValue: unknown;
  while (['default', 'optional', 'prefault', 'nullable', 'pipe'].includes(s.def.type)) {
    if (s.def.type === 'default') defaultValue = s.def.defaultValue;
    s = s.def.type === 'pipe' ? s.def.in : s.def.innerType;
    description ||= s.description ?? '';
  }
  return { inner: s, description, defaultValue };
}

const toEnv = (path: string[]) => `LATCH_${path.map((p) => p.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()).join('_')}`;

/** Every leaf key of the schema with its environment variable, type, default and description. */
export function configKeys(): ConfigKey[] {
  const out: ConfigKey[] = [];
  const walk = (schema: AnySchema, path: string[]) => {
    const { inner, description, defaultValue } = unwrap(schema);
    const type = inner.def.type as string;
    if (type === 'object') {
      for (const [key, child] of Object.entries(inner.shape)) walk(child, [...path, key]);
      return;
    }
    const kind = (type === 'string' && inner.def.format === 'url' ? 'url' : type) as ConfigKey['kind'];
    const key: ConfigKey = { path, env: toEnv(path), kind, description, defaultValue };
    if (type === 'enum') key.values = Object.values(inner.def.entries) as string[];
    out.push(key);
  };
  walk(configSchema, []);
  return out;
}

function coerceEnv(key: ConfigKey, raw: string): unknown {
  switch (key.kind) {
    case 'number': {
      const n = Number(raw);
      return raw.trim() === '' || Number.isNaN(n) ? raw : n;
    }
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(raw)) return true;
      if (/^(false|0|no|off)$/i.test(raw)) return false;
      return raw;
    case 'record':
      try {
        return JSON.parse(raw);
      } catch {
        return raw;
      }
    default:
      return raw;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown) {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

export interface LoadOptions {
  /** Path of latch.yaml; defaults to $LATCH_CONFIG, then ./latch.yaml when present. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (used by tests). */
  overrides?: Record<string, unknown>;
}

/** What a schema check expects, in words (zod's default messages are rewritten; custom ones kept). */
function expectation(issue: z.core.$ZodIssue): string {
  const custom = !/^(Invalid|Too (big|small))/.test(issue.message);
  switch (issue.code) {
    case 'invalid_type': {
      const names: Record<string, string> = {
        int: 'a whole number',
        number: 'a number',
        boolean: 'true or false',
        string: 'a string',
        record: 'a mapping',
        object: 'a mapping (a section of keys)',
        array: 'a list',
      };
      return names[issue.expected] ?? `a ${issue.expected}`;
    }
    case 'too_big':
    case 'too_small': {
      if (custom) return issue.message;
      const big = issue.code === 'too_big';
      const limit = big ? (issue as { maximum: number | bigint }).maximum : (issue as { minimum: number | bigint }).minimum;
      if (issue.origin === 'string') return `${big ? 'at most' : 'at least'} ${limit} characters`;
      if (issue.origin === 'array') return `${big ? 'at most' : 'at least'} ${limit} entries`;
      return `a number ${big ? (issue.inclusive ? '<=' : '<') : issue.inclusive ? '>=' : '>'} ${limit}`;
    }
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      if (custom) return issue.message;
      return issue.format === 'url' ? 'an absolute http(s) URL' : `a valid ${issue.format}`;
    default:
      return issue.message.replace(/^Invalid input: /, '').replace(/^expected /, '');
  }
}

function describeIssue(issue: z.core.$ZodIssue, input: Record<string, unknown>, fromEnv: Map<string, string>): string {
  const path = issue.path.map(String);
  const dotted = path.join('.') || '(root)';
  let value: unknown = input;
  for (const part of path) value = (value as Record<string, unknown> | undefined)?.[part];
  const env = fromEnv.get(dotted);
  const where = env ? `${dotted} (from ${env})` : dotted;
  // A mapping set through a variable is written as JSON there.
  const expected = env && issue.code === 'invalid_type' && issue.expected === 'record' ? 'a JSON object, e.g. {"name": "value"}' : expectation(issue);
  return `${where}: got ${shown(dotted, value)}; expected ${expected}`;
}

/** Secrets never appear in error messages (they end up in logs and CI output). */
const SECRET_KEYS = new Set(['admin.token', 'keys.encryptionKey']);

function shown(dotted: string, value: unknown): string {
  if (value === undefined) return 'nothing';
  if (SECRET_KEYS.has(dotted) && typeof value === 'string') return `a hidden value of ${value.length} characters`;
  // Passwords inside URLs (database.url, redis.url): scheme://user:password@host.
  return JSON.stringify(value).replace(/(\/\/[^/:@"]*:)[^/@"]*@/g, '$1***@');
}

/**
 * Keys present in the input that the schema does not know, at any depth (a typo such as
 * `database.urll` must fail, not be silently ignored). Record-valued keys are leaves.
 */
function unknownKeys(input: Record<string, unknown>, keys: ConfigKey[]): string[] {
  const leaves = new Set(keys.map((k) => k.path.join('.')));
  const branches = new Set(keys.flatMap((k) => k.path.slice(0, -1).map((_, i) => k.path.slice(0, i + 1).join('.'))));
  const problems: string[] = [];
  const walk = (node: Record<string, unknown>, path: string[]) => {
    for (const [key, value] of Object.entries(node)) {
      const dotted = [...path, key].join('.');
      if (leaves.has(dotted)) continue;
      if (branches.has(dotted)) {
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) walk(value as Record<string, unknown>, [...path, key]);
        continue;
      }
      const siblings = [...leaves, ...branches].filter((p) => p.split('.').length === path.length + 1 && p.startsWith(path.length ? `${path.join('.')}.` : ''));
      const close = siblings.find((p) => editDistance(p.split('.').pop() as string, key) <= (key.length <= 4 ? 1 : 2));
      problems.push(`${dotted}: unknown key${close ? ` (did you mean ${close}?)` : ''}; see \`latch config keys\` for the valid keys`);
    }
  };
  walk(input, []);
  return problems;
}

/**
 * LATCH_* variables that name no setting: a misspelled one (LATCH_TOKNES_…) would otherwise be
 * ignored without a word, unlike the same typo in latch.yaml. LATCH_CONFIG names the file, and
 * LATCH_TEST_* belongs to the test suite.
 */
function unknownVariables(env: NodeJS.ProcessEnv, keys: ConfigKey[]): string[] {
  const known = new Set(keys.map((k) => k.env));
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('LATCH_') || known.has(name) || name === 'LATCH_CONFIG' || name.startsWith('LATCH_TEST_')) continue;
    const close = [...known].find((k) => editDistance(k, name) <= 2);
    problems.push(`${name}: unknown variable${close ? ` (did you mean ${close}?)` : ''}; see \`latch config keys\` for the valid ones`);
  }
  return problems;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions), case-insensitive. */
function editDistance(x: string, y: string): number {
  const a = x.toLowerCase();
  const b = y.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => d[i]?.[j] as number;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** Loads and validates configuration from file, environment and overrides; throws ConfigError naming every bad key. */
export function loadConfig(options: LoadOptions = {}): LatchConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.LATCH_CONFIG ?? (existsSync('latch.yaml') ? 'latch.yaml' : undefined);
  let input: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError([
        `config file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass an existing file with --config or LATCH_CONFIG`,
      ]);
    }
    try {
      const parsed = parseYaml(text) ?? {};
      if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the top level must be a mapping');
      input = parsed as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError([`config file ${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
    }
  }
  const fromEnv = new Map<string, string>();
  const keys = configKeys();
  for (const key of keys) {
    const raw = env[key.env];
    if (raw === undefined || raw === '') continue;
    setPath(input, key.path, coerceEnv(key, raw));
    fromEnv.set(key.path.join('.'), key.env);
  }
  for (const [path, value] of Object.entries(options.overrides ?? {})) setPath(input, path.split('.'), value);

  const unknown = [...unknownVariables(env, keys), ...unknownKeys(input, keys)];
  const result = configSchema.safeParse(input);
  const problems = result.success ? [] : result.error.issues.filter((i) => i.code !== 'unrecognized_keys').map((i) => describeIssue(i, input, fromEnv));
  if (unknown.length > 0 || !result.success) throw new ConfigError([...unknown, ...problems]);
  if (!result.success) throw new ConfigError(problems);
  const config = result.data;
  const issuerUrl = new URL(config.issuer);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(issuerUrl.hostname);
  if (issuerUrl.protocol === 'http:' && !loopback) {
    const where = fromEnv.get('issuer');
    throw new ConfigError([`issuer${where ? ` (from ${where})` : ''}: got "${config.issuer}"; expected an https URL (http is only allowed on loopback)`]);
  }
  if (
    config.admin.port !== 0 &&
    config.admin.port === config.public.port &&
    (config.admin.host === config.public.host || config.admin.host === '0.0.0.0' || config.public.host === '0.0.0.0')
  ) {
    const where = [fromEnv.get('admin.port'), fromEnv.get('public.port')].filter(Boolean).join(', ');
    throw new ConfigError([
      `admin.port${where ? ` (from ${where})` : ''}: got ${config.admin.port}, the same as public.port; expected another port (the admin API never shares the public listener)`,
    ]);
  }
  // RFC 8414 §2: the issuer has no trailing slash ambiguity; keep exactly what was configured.
  config.issuer = config.issuer.replace(/\/+$/, '');
  return config;
}
