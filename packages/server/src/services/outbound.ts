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
import { BlockList, isIP } from 'node:net';
import { Agent, request } from 'undici';

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

const forbidden = new BlockList();
// IPv4 special-purpose ranges (RFC 6890 and successors), loopback handled separately.
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // shared address space (CGNAT)
  ['169.254.0.0', 16], // link-local (cloud metadata endpoints live here)
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv6');
}
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** The IPv4 address carried by an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  const dotted = /^(?:::ffff:|64:ff9b::)(?:0:)?([0-9.]+)$/i.exec(address);
  if (dotted?.[1] && isIP(dotted[1]) === 4) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex?.[1] && hex[2]) {
    const hi = Number.parseInt(hex[1], 16);
    const lo = Number.parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** Why an IP address may not be connected to, or undefined when it may. */
export function addressProblem(address: string, allowLoopback: boolean): string | undefined {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 0) return `"${address}" is not an IP address`;
  const v4 = family === 6 ? embeddedIpv4(bare) : bare;
  const [addr, type] = v4 ? [v4, 'ipv4' as const] : [bare, 'ipv6' as const];
  if (loopback.check(addr, type)) return allowLoopback ? undefined : `${address} is a loopback address`;
  if (forbidden.check(addr, type)) return `${address} is a private, link-local or reserved address`;
  return undefined;
}

/** Why a URL may not be fetched (checked before any connection), or undefined when it may. */
export function urlProblem(target: string, allowLoopback: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return 'not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `scheme ${url.protocol} is not allowed`;
  if (url.username || url.password) return 'credentials in the URL are not allowed';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // IP literals never reach the DNS lookup below, so they are checked here.
  if (isIP(host)) return addressProblem(host, allowLoopback);
  if (!allowLoopback && (host === 'localhost' || host.endsWith('.localhost'))) return `${host} is a loopback name`;
  return undefined;
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
