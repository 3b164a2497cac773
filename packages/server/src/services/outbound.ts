/**
 * Outgoing HTTP (`safeFetch`): client `jwks_uri` documents today, back-channel logout and other
 * deliveries later. Every URL we fetch comes from client registration, i.e. from outside, so:
 * - http(s) only, no credentials in the URL, redirects never followed (undici's `request` does not);
 * - SSRF protection: the address is checked after DNS resolution, inside the socket's own `lookup`,
 *   so a DNS answer that changes between a check and the connect cannot slip through. Loopback,
 *   private, link-local, multicast and reserved ranges are refused; `outbound.allowLoopback`
 *   (development and tests) lets loopback through, never private networks;
 * - a timeout for the whole exchange and a cap on the response size.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent, request } from 'undici';
import { addressProblem, urlProblem } from './outbound-targets.ts';

export type OutboundFailure = 'forbidden_target' | 'timeout' | 'too_large' | 'network';

export class OutboundError extends Error {
  override name = 'OutboundError';
  constructor(
    readonly reason: OutboundFailure,
    message: string,
  ) {
    super(message);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for net.connect that refuses forbidden addresses. */
export function guardedLookup(allowLoopback: boolean) {
  return (hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as LookupAddress[];
      // Refuse when any answer is forbidden: a name mixing public and private answers is suspicious.
      for (const a of list) {
        const problem = addressProblem(a.address, allowLoopback);
        if (problem) return callback(new OutboundError('forbidden_target', `refused to connect to ${hostname}: ${problem}`), '');
      }
      if (options.all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };
}

export interface OutboundOptions {
  allowLoopback: boolean;
  /** Default timeout for the whole exchange (connect, headers, body). */
  timeoutMs: number;
  userAgent?: string;
}

export interface SafeFetchInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Response bodies larger than this fail with `too_large` (default 256 KiB). */
  maxBytes?: number;
  timeoutMs?: number;
}

export interface SafeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text(): string;
  /** Parses the body as JSON; throws OutboundError('network') when it is not JSON. */
  json(): unknown;
}

export interface Outbound {
  safeFetch(url: string, init?: SafeFetchInit): Promise<SafeResponse>;
  close(): Promise<void>;
}

const DEFAULT_MAX_BYTES = 256 * 1024;

function findOutboundError(err: unknown): OutboundError | undefined {
  let e = err as { cause?: unknown } | undefined;
  for (let i = 0; e && i < 5; i++) {
    if (e instanceof OutboundError) return e;
    e = e.cause as { cause?: unknown } | undefined;
  }
  return undefined;
}

export function createOutbound(options: OutboundOptions): Outbound {
  const agent = new Agent({
    connect: { lookup: guardedLookup(options.allowLoopback) as never, timeout: options.timeoutMs },
    keepAliveTimeout: 10_000,
    connections: 16,
  });

  async function safeFetch(url: string, init: SafeFetchInit = {}): Promise<SafeResponse> {
    const problem = urlProblem(url, options.allowLoopback);
    if (problem) throw new OutboundError('forbidden_target', `refused to fetch ${url}: ${problem}`);
    const timeoutMs = init.timeoutMs ?? options.timeoutMs;
    const maxBytes = init.maxBytes ?? DEFAULT_MAX_BYTES;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await request(url, {
        method: init.method ?? 'GET',
        headers: { 'user-agent': options.userAgent ?? 'Latch', ...init.headers },
        ...(init.body !== undefined ? { body: init.body } : {}),
        dispatcher: agent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      });
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        res.body.destroy();
        throw new OutboundError('too_large', `response from ${url} is larger than ${maxBytes} bytes`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          res.body.destroy();
          throw new OutboundError('too_large', `response from ${url} is larger than ${maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      const body = Buffer.concat(chunks);
      return {
        status: res.statusCode,
        headers: res.headers,
        body,
        text: () => body.toString('utf8'),
        json() {
          try {
            return JSON.parse(body.toString('utf8'));
          } catch {
            throw new OutboundError('network', `response from ${url} is not JSON`);
          }
        },
      };
    } catch (err) {
      const own = findOutboundError(err);
      if (own) throw own;
      if (signal.aborted || (err as Error)?.name === 'TimeoutError' || /Timeout/i.test((err as { code?: string })?.code ?? '')) {
        throw new OutboundError('timeout', `request to ${url} timed out after ${timeoutMs} ms`);
      }
      throw new OutboundError('network', `request to ${url} failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  return { safeFetch, close: () => agent.close() };
}
