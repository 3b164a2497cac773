/**
 * The two busiest back-channel endpoints (token and introspection, docs/architecture.md §8) answered on
 * node:http directly, in front of fastify. Profiles of those requests showed fastify's per-request
 * machinery (routing, hooks, reply, content-type parsing, child loggers) as the largest share of
 * their cost after the socket write itself.
 *
 * Only the ordinary request takes this lane: `POST <path>` with no query string and a plain
 * `application/x-www-form-urlencoded` body. Everything else (other methods, other media types,
 * query strings, requests during shutdown) goes to fastify, which has the same route with the same
 * handler, so both lanes give the same answers; the end-to-end suites exercise both.
 *
 * What fastify would do is done here too: the body limit (413), RFC 6749 §5.2 errors through the
 * shared mapping, `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1), `nosniff`,
 * request metrics, request logs when enabled, and graceful shutdown bookkeeping.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { OAuthError } from '../domain/errors.ts';
import { describeError, logFailure, toOAuthError } from './errors.ts';
import { FormParams } from './form.ts';
import type { RequestObserver } from './metrics.ts';

/** What a back-channel handler needs from the request, whichever lane it came by. */
export interface BackChannelRequest {
  params: FormParams;
  /** The Authorization header as sent (undefined when absent). */
  authorization: string | undefined;
}

/** Checks and answers a form request: the JSON body of a 200, or throws an OAuthError. */
export type BackChannelHandler = (request: BackChannelRequest) => Promise<unknown>;

/** Parameters with which a form body takes the direct lane; anything else is fastify's to judge. */
const PLAIN_FORM = /^application\/x-www-form-urlencoded(?:\s*;\s*charset="?utf-8"?)?$/i;

/** What the server that owns the lane provides once it exists. */
export interface DirectLaneHost {
  log: FastifyBaseLogger;
  /** Responses not yet sent; shutdown marks them `Connection: close`. */
  inFlight: Set<ServerResponse>;
  nextRequestId(): string;
}

interface Route {
  handle: BackChannelHandler;
  /** Runs on the parsed form before the handler (duplicate and size checks). */
  check: (params: FormParams) => void;
}

export interface DirectLaneOptions {
  bodyLimit: number;
  logRequests: boolean;
  trustProxy: boolean;
  /** realm for WWW-Authenticate on invalid_client */
  realm: string;
  observer?: RequestObserver;
}

export class DirectLane {
  private readonly routes = new Map<string, Route>();
  private host: DirectLaneHost | undefined;
  /** Requests answered on this lane (for tests and diagnostics). */
  readonly stats = { served: 0 };

  constructor(private readonly options: DirectLaneOptions) {}

  add(path: string, handle: BackChannelHandler, check: (params: FormParams) => void): void {
    this.routes.set(path, { handle, check });
  }

  /** Called by the server factory once the server exists. */
  attach(host: DirectLaneHost): void {
    this.host = host;
  }

  /** True for the requests this lane answers; the rest go to fastify untouched. */
  accepts(request: IncomingMessage): boolean {
    if (request.method !== 'POST' || this.host === undefined || !this.routes.has(request.url as string)) return false;
    const type = request.headers['content-type'];
    return type !== undefined && PLAIN_FORM.test(type);
  }

  serve(request: IncomingMessage, response: ServerResponse): void {
    const host = this.host as DirectLaneHost;
    const route = this.routes.get(request.url as string) as Route;
    this.stats.served++;
    const exchange = new Exchange(this.options, host, route, request, response);
    exchange.start();
  }
}

/** One request on the direct lane, from the first body byte to the response. */
class Exchange {
  private readonly startedAt = process.hrtime.bigint();
  private readonly id: string;
  private chunks: Buffer[] = [];
  private size = 0;
  private answered = false;

  constructor(
    private readonly options: DirectLaneOptions,
    private readonly host: DirectLaneHost,
    private readonly route: Route,
    private readonly request: IncomingMessage,
    private readonly response: ServerResponse,
  ) {
    this.id = host.nextRequestId();
  }

  start(): void {
    const { request } = this;
    this.host.inFlight.add(this.response);
    if (this.options.logRequests) this.log().info({ req: this.describeRequest() }, 'incoming request');
    const declared = Number(request.headers['content-length']);
    if (declared > this.options.bodyLimit) {
      this.tooLarge();
      return;
    }
    request.on('data', (chunk: Buffer) => {
      if (this.answered) return;
      this.size += chunk.length;
      if (this.size > this.options.bodyLimit) this.tooLarge();
      else this.chunks.push(chunk);
    });
    request.on('end', () => {
      if (!this.answered) void this.run();
    });
    // An aborted upload has nobody left to answer; only the bookkeeping remains.
    request.on('error', () => this.host.inFlight.delete(this.response));
  }

  private async run(): Promise<void> {
    const chunks = this.chunks;
    const text = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, this.size).toString('utf8');
    this.chunks = [];
    try {
      const params = new FormParams(text);
      this.route.check(params);
      const authorization = this.request.headers.authorization;
      const result = await this.route.handle({ params, authorization });
      this.send(200, JSON.stringify(result));
    } catch (err) {
      this.fail(err);
    }
  }

  private tooLarge(): void {
    // The rest of the body is not read: close the connection after the answer.
    this.response.setHeader('Connection', 'close');
    this.fail(new OAuthError('invalid_request', 'The request body is too large.', { extra: { status: 413 } }));
  }

  private fail(err: unknown): void {
    const oauth = toOAuthError(err);
    logFailure(this.log(), err, oauth);
    const { status, body, wwwAuthenticate, retryAfter } = describeError(oauth, this.options.realm);
    const extra: Record<string, string> = {};
    if (wwwAuthenticate !== undefined) extra['WWW-Authenticate'] = wwwAuthenticate;
    if (retryAfter !== undefined) extra['Retry-After'] = String(retryAfter);
    this.send(status, JSON.stringify(body), extra);
  }

  private send(status: number, body: string, extra?: Record<string, string>): void {
    if (this.answered) return;
    this.answered = true;
    const { response } = this;
    response.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      ...extra,
    });
    response.end(body);
    this.host.inFlight.delete(response);
    this.options.observer?.observe('POST', this.request.url as string, status, this.startedAt);
    if (this.options.logRequests) {
      const responseTime = Number(process.hrtime.bigint() - this.startedAt) / 1e6;
      this.log().info({ res: { statusCode: status }, responseTime }, 'request completed');
    }
  }

  private log(): FastifyBaseLogger {
    return this.host.log.child({ reqId: this.id });
  }

  private describeRequest() {
    const forwarded = this.request.headers['x-forwarded-for'];
    const ip = this.options.trustProxy && typeof forwarded === 'string' ? (forwarded.split(',')[0] as string).trim() : this.request.socket.remoteAddress;
    return { id: this.id, method: 'POST', url: this.request.url as string, ip };
  }
}
