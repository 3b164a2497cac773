/**
 * Stream management at the transmitter (SSF 1.0 §8.1): read the client's streams, create or update
 * one, ask for a verification. Every call carries an access token from the client credentials
 * grant with the management scope (the CAEP interoperability profile's `ssf.manage`).
 */
import type { Authority } from '../authority.ts';
import { AuthorityUnavailableError, ConfigurationError } from '../errors.ts';
import { isObject, request } from '../http.ts';

export interface StreamConfiguration {
  stream_id: string;
  iss?: string;
  aud?: string | string[];
  events_supported?: string[];
  events_requested?: string[];
  events_delivered?: string[];
  delivery?: { method?: string; endpoint_url?: string; [member: string]: unknown };
  [member: string]: unknown;
}

const isStream = (value: unknown): value is StreamConfiguration => isObject(value) && typeof value.stream_id === 'string';

export class StreamClient {
  constructor(
    private readonly authority: Authority,
    private readonly scope: string,
  ) {}

  token(): Promise<string> {
    return this.authority.accessToken(this.scope);
  }

  dropToken(): void {
    this.authority.dropAccessToken(this.scope);
  }

  /** §8.1.1.2: GET without stream_id lists the caller's streams (an array, or one object). */
  async list(): Promise<StreamConfiguration[]> {
    const reply = await this.call('GET', await this.endpoint('configuration_endpoint'));
    if (reply.status === 404) return [];
    this.expect(reply, [200], 'read the streams');
    const body = reply.json;
    return (Array.isArray(body) ? body : [body]).filter(isStream);
  }

  async find(matches: (s: StreamConfiguration) => boolean): Promise<StreamConfiguration | undefined> {
    return (await this.list()).find(matches);
  }

  /**
   * Reuses the stream `matches` finds, updating it (PATCH, §8.1.1.3) when it lacks an event we
   * want or a push credential must be set; otherwise creates one (POST, §8.1.1.1).
   */
  async ensure(want: {
    delivery: Record<string, unknown>;
    matches: (s: StreamConfiguration) => boolean;
    eventsRequested: string[];
    description: string;
  }): Promise<StreamConfiguration> {
    const url = await this.endpoint('configuration_endpoint');
    const existing = await this.find(want.matches);
    if (existing) {
      const requested = new Set(existing.events_requested ?? []);
      const missing = want.eventsRequested.some((e) => !requested.has(e));
      // The transmitter never shows the authorization_header back, so when one is configured it is sent again.
      if (!missing && want.delivery.authorization_header === undefined) return existing;
      const reply = await this.call('PATCH', url, {
        stream_id: existing.stream_id,
        events_requested: [...new Set([...requested, ...want.eventsRequested])],
        ...(want.delivery.authorization_header !== undefined ? { delivery: want.delivery } : {}),
      });
      this.expect(reply, [200], 'update the stream');
      return isStream(reply.json) ? reply.json : existing;
    }
    const reply = await this.call('POST', url, { delivery: want.delivery, events_requested: want.eventsRequested, description: want.description });
    this.expect(reply, [200, 201], 'create the stream');
    if (!isStream(reply.json)) throw new AuthorityUnavailableError('stream creation answered without a stream_id');
    return reply.json;
  }

  /** §8.1.4.2: true when Latch will send the verification SET, false when it is too soon (429). */
  async requestVerification(streamId: string, state: string): Promise<boolean> {
    const reply = await this.call('POST', await this.endpoint('verification_endpoint'), { stream_id: streamId, state });
    if (reply.status === 429) return false;
    this.expect(reply, [200, 202, 204], 'request a verification');
    return true;
  }

  private async endpoint(name: 'configuration_endpoint' | 'verification_endpoint'): Promise<string> {
    const metadata = await this.authority.ssfMetadata();
    const url = metadata[name];
    if (typeof url !== 'string') throw new ConfigurationError(`the transmitter metadata of ${this.authority.issuer} has no ${name}`);
    return url;
  }

  private async call(method: string, url: string, body?: unknown) {
    const send = async () =>
      request(url, {
        method,
        headers: { authorization: `Bearer ${await this.token()}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        timeoutMs: this.authority.timeoutMs,
      });
    let reply = await send();
    // A token the transmitter no longer accepts (rotated keys, revoked) is replaced once.
    if (reply.status === 401) {
      this.dropToken();
      reply = await send();
    }
    return reply;
  }

  private expect(reply: { status: number; text: string }, ok: number[], what: string): void {
    if (ok.includes(reply.status)) return;
    if (reply.status >= 500) throw new AuthorityUnavailableError(`Shared Signals: could not ${what} (${reply.status})`, reply.status);
    throw new ConfigurationError(`Shared Signals: could not ${what}: ${reply.status} ${reply.text.slice(0, 300)}`);
  }
}
