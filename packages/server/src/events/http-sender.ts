/**
 * Outgoing HTTP for the outbox: undici with timeouts and SSRF protection. A receiver URL comes from
 * client registration, i.e. from outside, so before connecting we check the address we are about
 * to connect to (after DNS resolution, inside the socket's own lookup, so a DNS answer that changes
 * between a check and the connect cannot slip through) against loopback, private, link-local,
 * multicast and reserved ranges. `outbound.allowLoopback` lets loopback through for development and
 * tests; private networks are never allowed. Redirects are not followed (a 3xx is a failed
 * delivery), and the response body is discarded.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, request } from 'undici';
import type { HttpSender } from './dispatcher.ts';

export class ForbiddenTargetError extends Error {
  override name = 'ForbiddenTargetError';
  readonly code = 'ERR_LATCH_FORBIDDEN_TARGET';
}

const forbidden = new BlockList();
// IPv4 special-purpose ranges (RFC 6890 and successors) other than loopback.
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv6');
}
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  const m = /^(?:::ffff:|64:ff9b::)(?:0:)?([0-9.]+)$/i.exec(address);
  if (m?.[1] && isIP(m[1]) === 4) return m[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex?.[1] && hex[2]) {
    const hi = Number.parseInt(hex[1], 16);
    const lo = Number.parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** Why an address may not be connected to, or undefined when it may. */
export function addressProblem(address: string, allowLoopback: boolean): string | undefined {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 0) return `"${address}" is not an IP address`;
  const v4 = family === 6 ? embeddedIpv4(bare) : bare;
  const [addr, type] = v4 ? [v4, 'ipv4' as const] : [bare, 'ipv6' as const];
  if (loopback.check(addr, type)) return allowLoopback ? undefined : `${address} is a loopback address (set outbound.allowLoopback for development)`;
  if (forbidden.check(addr, type)) return `${address} is a private, link-local or reserved address`;
  return undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for net.connect that refuses forbidden addresses. */
export function guardedLookup(allowLoopback: boolean) {
  return (hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as LookupAddress[];
      // Refuse when any answer is forbidden: a name that mixes public and private answers is suspicious.
      for (const a of list) {
        const problem = addressProblem(a.address, allowLoopback);
        if (problem) return callback(new ForbiddenTargetError(`refused to connect to ${hostname}: ${problem}`), '');
      }
      if (options.all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };
}

/** Checks a target URL before any connection: http(s) only, no credentials, IP literals checked here (they skip DNS). */
export function targetProblem(target: string, allowLoopback: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return 'not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `scheme ${url.protocol} is not allowed`;
  if (url.username || url.password) return 'credentials in the URL are not allowed';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return addressProblem(host, allowLoopback);
  if (!allowLoopback && (host === 'localhost' || host.endsWith('.localhost'))) return `${host} is a loopback name (set outbound.allowLoopback for development)`;
  return undefined;
}

export interface SenderOptions {
  allowLoopback: boolean;
  userAgent?: string;
}

/** The HttpSender the dispatcher uses in production. */
export function createHttpSender(options: SenderOptions): HttpSender & { close(): Promise<void> } {
  const agent = new Agent({
    connect: { lookup: guardedLookup(options.allowLoopback) as never },
    keepAliveTimeout: 10_000,
    connections: 16,
  });
  const send: HttpSender = async ({ url, headers, body, timeoutMs }) => {
    const problem = targetProblem(url, options.allowLoopback);
    if (problem) throw new ForbiddenTargetError(`refused to send to ${url}: ${problem}`);
    const res = await request(url, {
      method: 'POST',
      headers: { 'user-agent': options.userAgent ?? 'Latch', ...headers },
      body,
      dispatcher: agent,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      // undici's request() never follows redirects (that needs the redirect interceptor).
    });
    // Read at most a little of the answer, then drop it: receivers' bodies are never used.
    await res.body.dump({ limit: 16 * 1024 }).catch(() => {});
    return { status: res.statusCode };
  };
  return Object.assign(send, { close: () => agent.close() });
}
