/**
 * What the SDK knows about Latch: its metadata from discovery (RFC 8414, OIDC Discovery 1.0), its
 * Shared Signals transmitter metadata (SSF 1.0 §7), the client credentials, and access tokens from
 * the client credentials grant (RFC 6749 §4.4) for stream management. Shared by the introspector
 * and the receivers, so discovery happens once.
 */
import { authenticateRequest, type ClientCredentials } from './client-auth.ts';
import type { Clock } from './clock.ts';
import { AuthorityUnavailableError, ConfigurationError } from './errors.ts';
import { formBody, isObject, request } from './http.ts';
import { JwksCache } from './jwks.ts';

export interface AuthorizationServerMetadata {
  issuer: string;
  introspection_endpoint?: string;
  token_endpoint?: string;
  jwks_uri?: string;
  [member: string]: unknown;
}

export interface TransmitterMetadata {
  issuer: string;
  jwks_uri?: string;
  configuration_endpoint?: string;
  status_endpoint?: string;
  verification_endpoint?: string;
  delivery_methods_supported?: string[];
  [member: string]: unknown;
}

export interface AuthorityOptions {
  issuer: string;
  credentials: ClientCredentials;
  clock: Clock;
  /** Deadline of every call to Latch, in ms. */
  timeoutMs: number;
}

/**
 * RFC 8414 §3.1 (and SSF §7.2 for its own document): the well-known path goes between the host and
 * any path of the issuer.
 */
export function wellKnownUrl(issuer: string, name: string): string {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}/.well-known/${name}${path}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export class Authority {
  readonly issuer: string;
  readonly clientId: string;
  private metadataPromise: Promise<AuthorizationServerMetadata> | undefined;
  private ssfPromise: Promise<TransmitterMetadata> | undefined;
  private readonly tokens = new Map<string, Promise<CachedToken>>();
  private readonly jwksCaches = new Map<string, JwksCache>();

  constructor(private readonly options: AuthorityOptions) {
    const issuer = options.issuer;
    if (!/^https?:\/\//.test(issuer)) throw new ConfigurationError(`issuer: expected an http(s) URL, got "${issuer}"`);
    this.issuer = issuer;
    this.clientId = options.credentials.clientId;
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  get clock(): Clock {
    return this.options.clock;
  }

  /** Authorization server metadata; a failed discovery is retried on the next call, never cached. */
  metadata(): Promise<AuthorizationServerMetadata> {
    this.metadataPromise ??= this.discover().catch((err) => {
      this.metadataPromise = undefined;
      throw err;
    });
    return this.metadataPromise;
  }

  ssfMetadata(): Promise<TransmitterMetadata> {
    this.ssfPromise ??= this.fetchDocument<TransmitterMetadata>(wellKnownUrl(this.issuer, 'ssf-configuration')).catch((err) => {
      this.ssfPromise = undefined;
      throw err;
    });
    return this.ssfPromise;
  }

  /** One key cache per JWKS URL (the transmitter and the OpenID provider usually share one). */
  jwks(uri: string): JwksCache {
    let cache = this.jwksCaches.get(uri);
    if (!cache) {
      cache = new JwksCache({ uri, clock: this.options.clock, timeoutMs: this.options.timeoutMs });
      this.jwksCaches.set(uri, cache);
    }
    return cache;
  }

  async endpoint(name: 'introspection_endpoint' | 'token_endpoint' | 'jwks_uri'): Promise<string> {
    const metadata = await this.metadata();
    const url = metadata[name];
    if (typeof url !== 'string') throw new ConfigurationError(`${this.issuer} publishes no ${name} in its metadata`);
    return url;
  }

  /** Headers and form parameters that authenticate this client (RFC 6749 §2.3). */
  authenticate(): Promise<{ headers: Record<string, string>; params: Record<string, string> }> {
    return authenticateRequest(this.options.credentials, this.issuer, this.options.clock());
  }

  /**
   * An access token for `scope` from the client credentials grant, reused until 30 s before it
   * expires. Concurrent callers share one token request.
   */
  async accessToken(scope: string): Promise<string> {
    const now = this.options.clock();
    const cached = this.tokens.get(scope);
    if (cached) {
      const t = await cached.catch(() => undefined);
      if (t && t.expiresAt > now + 30_000) return t.token;
      if (this.tokens.get(scope) !== cached) return this.accessToken(scope);
    }
    const pending = this.requestToken(scope);
    this.tokens.set(scope, pending);
    pending.catch(() => this.tokens.delete(scope));
    return (await pending).token;
  }

  /** Forgets a token that Latch refused (401), so the next call gets a new one. */
  dropAccessToken(scope: string): void {
    this.tokens.delete(scope);
  }

  private async requestToken(scope: string): Promise<CachedToken> {
    const started = this.options.clock();
    const url = await this.endpoint('token_endpoint');
    const auth = await this.authenticate();
    const reply = await request(url, {
      method: 'POST',
      headers: { ...auth.headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: formBody({ grant_type: 'client_credentials', scope, ...auth.params }),
      timeoutMs: this.options.timeoutMs,
    });
    const body = isObject(reply.json) ? reply.json : {};
    if (reply.status >= 500) throw new AuthorityUnavailableError(`token endpoint answered ${reply.status}`, reply.status);
    if (reply.status !== 200 || typeof body.access_token !== 'string') {
      const error =
        typeof body.error === 'string'
          ? `${body.error}${typeof body.error_description === 'string' ? `: ${body.error_description}` : ''}`
          : reply.text.slice(0, 200);
      throw new ConfigurationError(
        `client credentials grant for scope "${scope}" refused (${reply.status} ${error}): the client needs grant type client_credentials and that scope`,
      );
    }
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 300;
    return { token: body.access_token, expiresAt: started + expiresIn * 1000 };
  }

  private async discover(): Promise<AuthorizationServerMetadata> {
    // RFC 8414 first; an OpenID provider that only publishes OIDC Discovery works too.
    try {
      return await this.fetchDocument<AuthorizationServerMetadata>(wellKnownUrl(this.issuer, 'oauth-authorization-server'));
    } catch (err) {
      if (!(err instanceof NotFound)) throw err;
    }
    return this.fetchDocument<AuthorizationServerMetadata>(`${this.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  }

  private async fetchDocument<T extends { issuer: string }>(url: string): Promise<T> {
    const reply = await request(url, { timeoutMs: this.options.timeoutMs });
    if (reply.status === 404) throw new NotFound(`${url} answered 404`);
    if (reply.status !== 200 || !isObject(reply.json)) throw new AuthorityUnavailableError(`${url} answered ${reply.status}`, reply.status);
    // RFC 8414 §3.3 (and SSF §7.2): the document's issuer must be the one we asked, or an attacker
    // who controls the document could point us at their own endpoints and keys.
    if (reply.json.issuer !== this.issuer) {
      throw new ConfigurationError(`issuer: ${url} names issuer "${String(reply.json.issuer)}", not "${this.issuer}" (set issuer to exactly Latch's issuer)`);
    }
    return reply.json as T;
  }
}

class NotFound extends AuthorityUnavailableError {}
