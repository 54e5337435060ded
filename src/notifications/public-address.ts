import { BlockList, isIP } from 'node:net';

/**
 * Which IP addresses count as "the public internet" for outgoing webhooks. Anything else (this
 * machine, private networks, link-local cloud metadata at 169.254.169.254, carrier-grade NAT,
 * multicast, reserved and documentation ranges) is refused, so a user cannot make the server
 * probe its own network (SSRF).
 */
export type NonPublicKind = 'loopback' | 'private' | 'link-local' | 'shared' | 'unspecified' | 'multicast' | 'broadcast' | 'reserved';

const ipv4Ranges: [string, number, NonPublicKind][] = [
  ['0.0.0.0', 8, 'unspecified'], // "this network"; 0.0.0.0 reaches this machine on Linux
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared'], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'], // includes cloud metadata (169.254.169.254)
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'], // IETF protocol assignments
  ['192.0.2.0', 24, 'reserved'], // documentation (TEST-NET-1)
  ['192.88.99.0', 24, 'reserved'], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'], // benchmarking
  ['198.51.100.0', 24, 'reserved'], // documentation (TEST-NET-2)
  ['203.0.113.0', 24, 'reserved'], // documentation (TEST-NET-3)
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved'], // future use (checked after the broadcast address inside it)
];

/** IPv6 ranges inside global unicast (2000::/3) that are still not public; everything outside 2000::/3 is refused anyway. */
const ipv6ReservedInGlobal: [string, number][] = [
  ['2001::', 23], // IETF protocol assignments: Teredo, benchmarking (2001:2::/48), ORCHID…
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation (RFC 9637)
];

const ipv4Lists = ipv4Ranges.map(([net, prefix, kind]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, 'ipv4');
  return { list, kind };
});
const globalUnicast = new BlockList();
globalUnicast.addSubnet('2000::', 3, 'ipv6');
const reservedInGlobal = new BlockList();
for (const [net, prefix] of ipv6ReservedInGlobal) reservedInGlobal.addSubnet(net, prefix, 'ipv6');

/**
 * Null for a public address, else why it is not public. Accepts IPv4 and IPv6 (with or without
 * brackets or a zone id); IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by that IPv4 address. Anything that is not an IP
 * address at all counts as `reserved`: callers only pass addresses, and refusing is the safe side.
 */
export function nonPublicKind(address: string): NonPublicKind | null {
  const ip = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const version = isIP(ip);
  if (version === 4) return ipv4Kind(ip);
  if (version !== 6) return 'reserved';
  const bytes = ipv6Bytes(ip);
  const embedded = embeddedIpv4(bytes);
  if (embedded) return ipv4Kind(embedded);
  if (bytes.every((b) => b === 0)) return 'unspecified';
  if (bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1) return 'loopback';
  if (bytes[0] === 0xff) return 'multicast';
  if (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80) return 'link-local'; // fe80::/10
  if ((bytes[0]! & 0xfe) === 0xfc) return 'private'; // unique local fc00::/7
  if (!globalUnicast.check(ip, 'ipv6') || reservedInGlobal.check(ip, 'ipv6')) return 'reserved';
  return null;
}

export const isPublicAddress = (address: string): boolean => nonPublicKind(address) === null;

function ipv4Kind(ip: string): NonPublicKind | null {
  return ipv4Lists.find(({ list }) => list.check(ip, 'ipv4'))?.kind ?? null;
}

/** The IPv4 address an IPv6 address stands for, when it is one of the forms that embed one. */
function embeddedIpv4(b: number[]): string | null {
  const v4 = (at: number) => b.slice(at, at + 4).join('.');
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12); // ::ffff:0:0/96, IPv4-mapped
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return v4(12); // 64:ff9b::/96, NAT64
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2); // 2002::/16, 6to4
  return null;
}

/** The 16 bytes of a valid IPv6 address (as `isIP` accepts it, including a trailing dotted quad). */
function ipv6Bytes(ip: string): number[] {
  let text = ip;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const parts = (s: string) => (s === '' ? [] : s.split(':'));
  const left = parts(head);
  const right = tail === undefined ? [] : parts(tail);
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}
