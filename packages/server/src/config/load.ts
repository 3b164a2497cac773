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

function describeIssue(issue: z.core.$ZodIssue, input: Record<string, unknown>, fromEnv: Map<string, string>): string {
  const path = issue.path.map(String);
  const dotted = path.join('.') || '(root)';
  let value: unknown = input;
  for (const part of path) value = (value as Record<string, unknown> | undefined)?.[part];
  const env = fromEnv.get(dotted);
  const where = env ? `${dotted} (from ${env})` : dotted;
  if (issue.code === 'unrecognized_keys') {
    return `${dotted === '(root)' ? '' : `${dotted}: `}unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}; see \`latch config keys\` for the valid keys`;
  }
  const shown = value === undefined ? 'nothing' : JSON.stringify(value);
  return `${where}: got ${shown}; expected ${issue.message.replace(/^Invalid input: /, '').replace(/^expected /, '')}`;
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
  for (const key of configKeys()) {
    const raw = env[key.env];
    if (raw === undefined || raw === '') continue;
    setPath(input, key.path, coerceEnv(key, raw));
    fromEnv.set(key.path.join('.'), key.env);
  }
  for (const [path, value] of Object.entries(options.overrides ?? {})) setPath(input, path.split('.'), value);

  const result = configSchema.safeParse(input);
  if (!result.success) throw new ConfigError(result.error.issues.map((i) => describeIssue(i, input, fromEnv)));
  const config = result.data;
  const issuerUrl = new URL(config.issuer);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(issuerUrl.hostname);
  if (issuerUrl.protocol === 'http:' && !loopback) {
    throw new ConfigError([`issuer: got "${config.issuer}"; expected an https URL (http is only allowed on loopback)`]);
  }
  // RFC 8414 §2: the issuer has no trailing slash ambiguity; keep exactly what was configured.
  config.issuer = config.issuer.replace(/\/+$/, '');
  return config;
}
