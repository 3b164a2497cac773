/**
 * A stand-in authorization server and Shared Signals transmitter for the SDK's tests, written from
 * the specifications rather than from Latch: RFC 8414 metadata, an RFC 7662 introspection endpoint
 * (client_secret_basic / client_secret_post / private_key_jwt), the client credentials grant
 * (RFC 6749 §4.4), and an SSF 1.0 transmitter: §7 metadata, §8.1.1 stream configuration, §8.1.4
 * verification, RFC 8935 push and RFC 8936 poll with long polling. Tests control what it answers.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type CryptoKey, createLocalJWKSet, exportJWK, generateKeyPair, type JWK, type JWTPayload, jwtVerify, type KeyObject, SignJWT } from 'jose';

export const CLIENT_ID = 'notes-api';
export const CLIENT_SECRET = 'notes-api-secret';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey | KeyObject;
  publicJwk: JWK;
}

export async function signingKey(kid = `k${randomBytes(4).toString('hex')}`, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export interface Stream {
  stream_id: string;
  iss: string;
  aud: string;
  events_supported: string[];
  events_requested: string[];
  events_delivered: string[];
  delivery: { method: string; endpoint_url?: string; authorization_header?: string };
  description?: string;
  queue: { jti: string; set: string }[];
  waiters: (() => void)[];
}

export interface PushAttempt {
  status: number;
  body: string;
}

const PUSH = 'urn:ietf:rfc:8935';
const POLL = 'urn:ietf:rfc:8936';

export class FakeLatch {
  readonly keys: SigningKey[] = [];
  /** token → introspection answer (RFC 7662 §2.2 members). */
  readonly tokens = new Map<string, Record<string, unknown>>();
  readonly streams = new Map<string, Stream>();
  introspections = 0;
  jwksFetches = 0;
  /** When set, the introspection endpoint answers this status. */
  introspectionStatus: number | undefined;
  /** Delay of each introspection answer (ms). */
  introspectionDelayMs = 0;
  /** Public JWKs of private_key_jwt clients. */
  clientJwks: JWK[] = [];
  readonly pushes: PushAttempt[] = [];
  readonly verificationRequests: { stream_id: string; state?: string }[] = [];
  readonly polls: Record<string, unknown>[] = [];
  /** Answer verification requests with 429 (SSF §8.1.4.2 min_verification_interval). */
  verificationStatus = 204;
  audience = 'https://notes.example/';
  private server: Server | undefined;
  issuer = '';
  private readonly mgmtTokens = new Set<string>();

  static async start(): Promise<FakeLatch> {
    const fake = new FakeLatch();
    fake.keys.push(await signingKey());
    const server = createServer((req, res) => {
      fake.route(req, res).catch((err) => {
        res.writeHead(500).end(String(err));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    fake.server = server;
    fake.issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    return fake;
  }

  async close(): Promise<void> {
    for (const s of this.streams.values()) for (const w of s.waiters.splice(0)) w();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** An opaque token with a known introspection answer (active, 5 min, with session and device). */
  addToken(token: string, claims: Record<string, unknown> = {}): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000);
    const answer = {
      active: true,
      scope: 'notes:read notes:write',
      client_id: 'web-app',
      sub: 'user-1',
      token_type: 'Bearer',
      exp: now + 300,
      iat: now,
      iss: this.issuer,
      jti: `at_${randomBytes(6).toString('hex')}`,
      sid: 'sid-1',
      device_id: 'device-1',
      ...claims,
    };
    this.tokens.set(token, answer);
    return answer;
  }

  /** Signs a SET (RFC 8417) with the current key; `header`/`claims` override what a test needs wrong. */
  async signSet(
    events: Record<string, unknown>,
    options: { claims?: JWTPayload; header?: Record<string, unknown>; key?: SigningKey; aud?: string } = {},
  ): Promise<string> {
    const key = options.key ?? (this.keys[0] as SigningKey);
    return new SignJWT({
      iss: this.issuer,
      aud: options.aud ?? this.audience,
      iat: Math.floor(Date.now() / 1000),
      jti: randomBytes(12).toString('base64url'),
      events,
      ...options.claims,
    })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'secevent+jwt', ...options.header })
      .sign(key.privateKey);
  }

  /** Signs an OIDC back-channel logout token (OIDC Back-Channel Logout 1.0 §2.4). */
  async signLogoutToken(claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
    const key = this.keys[0] as SigningKey;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: this.issuer,
      aud: CLIENT_ID,
      iat: now,
      exp: now + 120,
      jti: randomBytes(12).toString('base64url'),
      events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'logout+jwt', ...header })
      .sign(key.privateKey);
  }

  /** Delivers a signed SET on a stream: POST to its push endpoint, or queued for its poller. */
  async deliver(streamId: string, set: string): Promise<PushAttempt | undefined> {
    const stream = this.streams.get(streamId);
    if (!stream) throw new Error(`no stream ${streamId}`);
    if (stream.delivery.method === POLL) {
      const jti = JSON.parse(Buffer.from(set.split('.')[1] as string, 'base64url').toString()).jti as string;
      stream.queue.push({ jti, set });
      for (const w of stream.waiters.splice(0)) w();
      return undefined;
    }
    const res = await fetch(stream.delivery.endpoint_url as string, {
      method: 'POST',
      headers: {
        'content-type': 'application/secevent+jwt',
        accept: 'application/json',
        ...(stream.delivery.authorization_header ? { authorization: stream.delivery.authorization_header } : {}),
      },
      body: set,
    });
    const attempt = { status: res.status, body: await res.text() };
    this.pushes.push(attempt);
    return attempt;
  }

  get onlyStream(): Stream {
    const [stream] = this.streams.values();
    if (!stream || this.streams.size !== 1) throw new Error(`expected one stream, have ${this.streams.size}`);
    return stream;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.issuer);
    const body = await readAll(req);
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(value === undefined ? '' : JSON.stringify(value));
    };
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /.well-known/oauth-authorization-server':
        return json(200, {
          issuer: this.issuer,
          token_endpoint: `${this.issuer}/token`,
          introspection_endpoint: `${this.issuer}/introspect`,
          jwks_uri: `${this.issuer}/jwks`,
        });
      case 'GET /.well-known/ssf-configuration':
        return json(200, {
          spec_version: '1_0',
          issuer: this.issuer,
          jwks_uri: `${this.issuer}/jwks`,
          delivery_methods_supported: [PUSH, POLL],
          configuration_endpoint: `${this.issuer}/ssf/stream`,
          verification_endpoint: `${this.issuer}/ssf/verify`,
          authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
        });
      case 'GET /jwks':
        this.jwksFetches++;
        return json(200, { keys: this.keys.map((k) => k.publicJwk) });
      case 'POST /token': {
        if (!(await this.clientAuthenticated(req, new URLSearchParams(body)))) return json(401, { error: 'invalid_client' });
        const token = `mgmt_${randomBytes(12).toString('hex')}`;
        this.mgmtTokens.add(token);
        return json(200, { access_token: token, token_type: 'Bearer', expires_in: 300, scope: new URLSearchParams(body).get('scope') });
      }
      case 'POST /introspect': {
        this.introspections++;
        const params = new URLSearchParams(body);
        if (!(await this.clientAuthenticated(req, params))) return json(401, { error: 'invalid_client' });
        if (this.introspectionDelayMs) await new Promise((r) => setTimeout(r, this.introspectionDelayMs));
        if (this.introspectionStatus) return json(this.introspectionStatus, { error: 'server_error' });
        const answer = this.tokens.get(params.get('token') ?? '');
        const now = Math.floor(Date.now() / 1000);
        return json(200, answer && answer.active === true && (answer.exp as number) > now ? answer : { active: false });
      }
      default:
        return this.ssf(req, url, body, json);
    }
  }

  private async ssf(
    req: IncomingMessage,
    url: URL,
    body: string,
    json: (status: number, value: unknown, headers?: Record<string, string>) => void,
  ): Promise<void> {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer || !this.mgmtTokens.has(bearer)) return json(401, { error: 'invalid_token' });
    let input: Record<string, unknown> = {};
    try {
      input = body ? JSON.parse(body) : {};
    } catch {
      return json(400, { error: 'invalid_request' });
    }
    const path = url.pathname;
    if (path === '/ssf/stream' && req.method === 'GET') return json(200, [...this.streams.values()].map(publicStream));
    if (path === '/ssf/stream' && req.method === 'POST') {
      const id = `stream-${this.streams.size + 1}`;
      const delivery = (input.delivery as Stream['delivery'] | undefined) ?? { method: POLL };
      if (delivery.method === POLL) delivery.endpoint_url = `${this.issuer}/ssf/poll/${id}`;
      const stream: Stream = {
        stream_id: id,
        iss: this.issuer,
        aud: this.audience,
        events_supported: input.events_requested as string[],
        events_requested: (input.events_requested as string[]) ?? [],
        events_delivered: (input.events_requested as string[]) ?? [],
        delivery,
        ...(typeof input.description === 'string' ? { description: input.description } : {}),
        queue: [],
        waiters: [],
      };
      this.streams.set(id, stream);
      return json(201, publicStream(stream));
    }
    if (path === '/ssf/stream' && req.method === 'PATCH') {
      const stream = this.streams.get(input.stream_id as string);
      if (!stream) return json(404, { error: 'not_found' });
      if (Array.isArray(input.events_requested)) stream.events_requested = input.events_requested as string[];
      if (input.delivery) stream.delivery = { ...stream.delivery, ...(input.delivery as Stream['delivery']) };
      return json(200, publicStream(stream));
    }
    if (path === '/ssf/verify' && req.method === 'POST') {
      this.verificationRequests.push(input as { stream_id: string; state?: string });
      if (this.verificationStatus !== 204) return json(this.verificationStatus, { error: 'too_soon' });
      const stream = this.streams.get(input.stream_id as string);
      if (!stream) return json(404, { error: 'not_found' });
      json(204, undefined);
      const set = await this.signSet(
        { 'https://schemas.openid.net/secevent/ssf/event-type/verification': { ...(input.state ? { state: input.state } : {}) } },
        { claims: { sub_id: { format: 'opaque', id: stream.stream_id } }, aud: stream.aud },
      );
      await this.deliver(stream.stream_id, set);
      return;
    }
    const poll = /^\/ssf\/poll\/(.+)$/.exec(path);
    if (poll && req.method === 'POST') {
      const stream = this.streams.get(poll[1] as string);
      if (!stream) return json(404, { error: 'not_found' });
      this.polls.push(input);
      // RFC 8936 §2.4: acknowledged SETs are removed.
      const acked = new Set(Array.isArray(input.ack) ? (input.ack as string[]) : []);
      const errs = (input.setErrs ?? {}) as Record<string, unknown>;
      stream.queue = stream.queue.filter((q) => !acked.has(q.jti) && !(q.jti in errs));
      if (stream.queue.length === 0 && input.returnImmediately !== true) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          stream.waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      const max = typeof input.maxEvents === 'number' ? input.maxEvents : 100;
      const batch = stream.queue.slice(0, max);
      return json(200, { sets: Object.fromEntries(batch.map((q) => [q.jti, q.set])), moreAvailable: stream.queue.length > batch.length });
    }
    return json(404, { error: 'not_found' });
  }

  private async clientAuthenticated(req: IncomingMessage, params: URLSearchParams): Promise<boolean> {
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (basic) {
      const [id, secret] = Buffer.from(basic, 'base64')
        .toString()
        .split(':')
        .map((s) => decodeURIComponent(s.replace(/\+/g, ' ')));
      return id === CLIENT_ID && secret === CLIENT_SECRET;
    }
    if (params.get('client_secret')) return params.get('client_id') === CLIENT_ID && params.get('client_secret') === CLIENT_SECRET;
    const assertion = params.get('client_assertion');
    if (assertion && params.get('client_assertion_type') === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
      try {
        const { payload } = await jwtVerify(assertion, createLocalJWKSet({ keys: this.clientJwks }), {
          issuer: CLIENT_ID,
          subject: CLIENT_ID,
          audience: this.issuer,
        });
        return typeof payload.jti === 'string';
      } catch {
        return false;
      }
    }
    return false;
  }
}

function publicStream(s: Stream): Record<string, unknown> {
  const { queue: _q, waiters: _w, delivery, ...rest } = s;
  // SSF: the authorization_header is never shown back in full.
  const { authorization_header: _a, ...shownDelivery } = delivery;
  return { ...rest, delivery: shownDelivery };
}

async function readAll(req: IncomingMessage): Promise<string> {
  let out = '';
  for await (const chunk of req) out += chunk;
  return out;
}
