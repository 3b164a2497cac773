import { z } from 'zod';
import { MIN_PROMOTE_AFTER_SECONDS } from '../domain/key-timing.ts';

/**
 * The whole configuration. Every leaf can be set in `latch.yaml` (camelCase keys, nested as below)
 * or through the environment as LATCH_<PATH> in SCREAMING_SNAKE_CASE, e.g. `database.url` ->
 * LATCH_DATABASE_URL, `tokens.accessTokenTtl` -> LATCH_TOKENS_ACCESS_TOKEN_TTL.
 * `.describe()` texts feed `latch config keys` and the README reference table.
 */
const port = z.number().int().min(0).max(65535);
const seconds = z.number().int().positive();

export const configSchema = z
  .object({
    issuer: z
      .url({ protocol: /^https?$/ })
      .refine((v) => !v.includes('#') && !v.includes('?'), 'an http(s) URL without query or fragment')
      .default('http://127.0.0.1:8080')
      .describe('Issuer identifier (RFC 8414 §2). Must be https in production; http is allowed for loopback.'),
    public: z
      .object({
        host: z.string().min(1).default('127.0.0.1').describe('Address the public (OAuth/OIDC) listener binds to.'),
        port: port.default(8080).describe('Port of the public listener.'),
        trustProxy: z.boolean().default(false).describe('Trust X-Forwarded-* headers (set behind a load balancer).'),
      })
      .prefault({}),
    admin: z
      .object({
        host: z.string().min(1).default('127.0.0.1').describe('Address the admin API listener binds to. Keep it private.'),
        port: port.default(8081).describe('Port of the admin API listener (never the public port).'),
        token: z
          .string()
          .min(32, 'at least 32 characters')
          .optional()
          .describe('Admin bearer token, at least 32 characters (e.g. `openssl rand -hex 32`). When unset, the first start generates one and prints it once.'),
      })
      .prefault({}),
    database: z
      .object({
        url: z
          .string()
          .regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/)/, 'sqlite:<path> or postgres://…')
          .default('sqlite:./data/latch.db')
          .describe('sqlite:<path> (embedded, default) or postgres://user:pass@host:port/db.'),
        autoMigrate: z.boolean().default(true).describe('Apply pending migrations at start (otherwise run `latch migrate`).'),
        poolSize: z.number().int().min(1).max(200).default(10).describe('PostgreSQL connection pool size per process.'),
        sqliteSynchronous: z
          .enum(['normal', 'full'])
          .default('normal')
          .describe('SQLite synchronous mode in WAL: normal survives process crashes, full also power loss.'),
      })
      .prefault({}),
    tokens: z
      .object({
        accessTokenTtl: seconds.default(300).describe('Access token lifetime in seconds (per-client override in the admin API).'),
        refreshTokenTtl: seconds.default(30 * 24 * 3600).describe('Refresh token lifetime in seconds (idle: each rotation renews it).'),
        authorizationCodeTtl: seconds.default(60).describe('Authorization code lifetime in seconds (RFC 6749 §4.1.2: short).'),
        idTokenTtl: seconds.default(3600).describe('ID token lifetime in seconds.'),
      })
      .prefault({}),
    sessions: z
      .object({
        browserSessionTtl: seconds.default(14 * 24 * 3600).describe('Lifetime of the SSO browser session cookie in seconds.'),
        idleTtl: seconds
          .default(30 * 24 * 3600)
          .describe('A session (device) unused this many seconds ends by policy (reason idle_timeout, with back-channel logout).'),
      })
      .prefault({}),
    registration: z
      .object({
        policy: z
          .enum(['open', 'initial_access_token', 'disabled'])
          .default('initial_access_token')
          .describe('Dynamic client registration (RFC 7591): open, initial_access_token, or disabled.'),
        allowedScopes: z
          .string()
          .regex(/^([\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*)?$/, 'space-separated scope tokens (RFC 6749 §3.3)')
          .default('openid profile email offline_access')
          .describe(
            'Space-separated scopes (or prefix patterns such as `read:*`) a dynamically registered client may ask for; its `scope` defaults to this set (RFC 7591 §5). Admin and CLI clients are not limited.',
          ),
        allowedGrantTypes: z
          .string()
          .regex(
            /^(authorization_code|refresh_token|client_credentials)( (authorization_code|refresh_token|client_credentials))*$/,
            'space-separated grant types: authorization_code, refresh_token, client_credentials',
          )
          .default('authorization_code refresh_token')
          .describe(
            'Space-separated grant types a dynamically registered client may register (add client_credentials to let self-registered clients act on their own). Admin and CLI clients are not limited.',
          ),
      })
      .prefault({}),
    scopes: z
      .object({
        descriptions: z
          .record(z.string(), z.string())
          .default({})
          .describe(
            'Words for the consent page per scope; `{resource}` fills in a pattern, e.g. "read:{resource}": "Read {resource}". In the environment: a JSON object.',
          ),
      })
      .prefault({}),
    keys: z
      .object({
        encryptionKey: z
          .string()
          .min(32, 'at least 32 characters')
          .optional()
          .describe('Secret used to encrypt private signing keys at rest (AES-256-GCM). Unset: stored unencrypted.'),
        rotationInterval: z
          .number()
          .int()
          .min(0)
          .default(0)
          .describe('Seconds after which an active signing key gets a successor published as `next` automatically; 0: only `latch keys rotate`.'),
        promoteAfter: z
          .number()
          .int()
          .min(0)
          // Promoting sooner would sign with a key that cached JWKS documents do not hold yet.
          .refine(
            (v) => v === 0 || v >= MIN_PROMOTE_AFTER_SECONDS,
            `0 (off) or at least ${MIN_PROMOTE_AFTER_SECONDS} seconds (JWKS cache lifetime plus key reload interval)`,
          )
          .default(0)
          .describe(
            `Seconds a \`next\` key is published before it is promoted automatically (at least ${MIN_PROMOTE_AFTER_SECONDS}: JWKS cache lifetime plus key reload interval); 0: only \`latch keys promote\`.`,
          ),
      })
      .prefault({}),
    rateLimit: z
      .object({
        loginPerIp: z.number().int().min(1).default(20).describe('Failed sign-ins allowed per IP address per window.'),
        loginPerUsername: z.number().int().min(1).default(5).describe('Failed sign-ins allowed per username per window.'),
        loginWindow: seconds.default(300).describe('Window of the login limits, in seconds (the lockout length).'),
        tokenPerClient: z.number().int().min(1).default(100000).describe('Token requests allowed per client per minute.'),
        registerPerIp: z
          .number()
          .int()
          .min(1)
          .default(20)
          .describe('Dynamic client registration requests (POST /oauth2/register) allowed per IP address per minute.'),
      })
      .prefault({}),
    redis: z
      .object({
        url: z
          .string()
          .regex(/^rediss?:\/\//, 'redis://host:port')
          .optional()
          .describe('Redis URL; when set, rate limits are shared across processes.'),
      })
      .prefault({}),
    outbound: z
      .object({
        allowLoopback: z
          .boolean()
          .default(false)
          .describe(
            'Allow outgoing requests (back-channel logout, jwks_uri) to loopback. Development and tests only; while false, clients cannot register loopback URIs there.',
          ),
        timeoutMs: z.number().int().min(100).max(60000).default(5000).describe('Timeout of outgoing requests in milliseconds.'),
      })
      .prefault({}),
    maintenance: z
      .object({
        interval: z.number().int().min(0).default(600).describe('Seconds between clean-ups of expired tokens, codes and assertion ids (0 turns them off).'),
        retention: z.number().int().min(0).default(3600).describe('Seconds an expired token or code is kept before it is deleted.'),
      })
      .prefault({}),
    outbox: z
      .object({
        dispatcher: z
          .boolean()
          .default(true)
          .describe('Deliver outbox events (back-channel logout tokens) from this process. Any number of processes may do it at once.'),
        pollInterval: z.number().int().min(50).max(60000).default(1000).describe('How often the dispatcher looks for due events, in milliseconds.'),
        maxAttempts: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(15)
          .describe('Delivery attempts per event before it is dead-lettered (see GET /admin/v1/events).'),
        retryBase: z.number().int().min(10).default(1000).describe('Delay before the first retry in milliseconds; it doubles per attempt, with jitter.'),
        retryMax: z.number().int().min(10).default(600000).describe('Longest delay between two attempts, in milliseconds.'),
        retention: seconds.default(7 * 24 * 3600).describe('Seconds delivered events are kept (visible in the admin API) before they are deleted.'),
      })
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (pino).'),
        requests: z
          .boolean()
          .default(true)
          .describe('Log each request: a line when it arrives (method, path) and one when it is answered (status, time), both with its request id.'),
      })
      .prefault({}),
  })
  .strict();

export type LatchConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
