/**
 * Which addresses Latch may call (SSRF protection, see outbound.ts): loopback, private, link-local,
 * multicast and reserved ranges are refused; `outbound.allowLoopback` (development and tests) lets
 * loopback through, never private networks. Kept apart from the HTTP client so that registration
 * can refuse such URLs up front without loading it.
 */
import { BlockList, isIP } from 'node:net';

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
  // IP literals never reach the guarded DNS lookup (outbound.ts), so they are checked here.
  if (isIP(host)) return addressProblem(host, allowLoopback);
  if (!allowLoopback && (host === 'localhost' || host.endsWith('.localhost'))) return `${host} is a loopback name`;
  return undefined;
}
