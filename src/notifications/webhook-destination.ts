import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { nonPublicKind, type NonPublicKind } from './public-address.ts';

/** Resolves a host name to every address it has (the service takes another one in tests). */
export type Resolve = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export interface DestinationPolicy {
  /** USER_WEBHOOK_ALLOW_PRIVATE: the server may post into its own network (receivers on the LAN). */
  allowPrivate: boolean;
  resolve: Resolve;
}

/** A webhook URL the server will not post to. */
export class RefusedDestination extends Error {
  /**
   * The short status recorded for a delivery. It never names an address the URL's host resolved
   * to: that would turn the webhook page into a map of the internal network's DNS.
   */
  readonly status: string;
  constructor(message: string, status: string) {
    super(message);
    this.name = 'RefusedDestination';
    this.status = status;
  }
}

const WHAT: Record<NonPublicKind, string> = {
  loopback: 'points to this server itself',
  private: 'points into a private network',
  'link-local': 'is a link-local address (such as a cloud metadata service)',
  shared: 'is in the carrier-grade NAT range (100.64.0.0/10)',
  unspecified: 'is the unspecified address',
  multicast: 'is a multicast address',
  broadcast: 'is the broadcast address',
  reserved: 'is in a reserved or documentation range',
};
const FIX = 'Use a public address, or set USER_WEBHOOK_ALLOW_PRIVATE=true on a server that should reach its own network.';
export const REFUSED_PRIVATE_STATUS = 'refused: private address';

/**
 * Checks where a webhook URL leads and returns the addresses to connect to: null when the host is
 * an IP address (the connection goes there without a lookup), else every address the name
 * resolved to, all of them checked. Throws RefusedDestination when the URL carries credentials or
 * any address is not public (unless the policy allows private ones); DNS errors pass through.
 */
export async function inspectDestination(rawUrl: string, policy: DestinationPolicy, signal?: AbortSignal): Promise<LookupAddress[] | null> {
  const url = new URL(rawUrl);
  if (url.username || url.password) {
    throw new RefusedDestination(
      'Remove the user name and password from the URL (the part before "@"): webhooks are signed, so receivers can check the sender without them; put any token your receiver needs in the path or query instead.',
      'refused: credentials in URL',
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  if (isIP(host)) {
    const kind = policy.allowPrivate ? null : nonPublicKind(host);
    if (kind) throw new RefusedDestination(`This address ${WHAT[kind]} (${host}). ${FIX}`, REFUSED_PRIVATE_STATUS);
    return null;
  }
  if (!policy.allowPrivate && (host === 'localhost' || host.endsWith('.localhost'))) {
    throw new RefusedDestination(`This address ${WHAT.loopback} (${host}). ${FIX}`, REFUSED_PRIVATE_STATUS);
  }
  const addresses = await abortable(policy.resolve(host), signal);
  if (addresses.length === 0) throw Object.assign(new Error(`No address for ${host}`), { code: 'ENOTFOUND' });
  if (!policy.allowPrivate) {
    // Any non-public address refuses the name: connecting tries them in turn, so one is enough to reach inside.
    const kind = addresses.map((a) => nonPublicKind(a.address)).find((k) => k !== null);
    if (kind) throw new RefusedDestination(`${host} resolves to an address that ${WHAT[kind]}. ${FIX}`, REFUSED_PRIVATE_STATUS);
  }
  return addresses;
}

/**
 * A lookup that answers with exactly the addresses already checked, so the connection cannot be
 * steered elsewhere by a second DNS answer (DNS rebinding). The URL keeps its host name, so the
 * Host header and TLS (SNI, certificate check) still use the name.
 */
export function pinnedLookup(addresses: LookupAddress[]): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    const fitting = family ? addresses.filter((a) => a.family === family) : addresses;
    const first = fitting[0];
    if (!first) {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    if (options.all) callback(null, fitting);
    else callback(null, first.address, first.family);
  };
}

export interface PostOptions {
  headers: Record<string, string>;
  body: string;
  /** Null: the host is an IP address, nothing to look up. */
  addresses: LookupAddress[] | null;
  signal: AbortSignal;
  /** Bytes of the reply read at most; the rest is not downloaded (the connection is closed). */
  maxResponseBytes: number;
}

/** POSTs once, without following redirects, and answers the reply's status code. */
export function postOnce(url: string, options: PostOptions): Promise<number> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const req = request(target, {
      method: 'POST',
      headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
      // A fresh connection per delivery: a pooled socket would skip the pinned lookup.
      agent: false,
      signal: options.signal,
      ...(options.addresses && { lookup: pinnedLookup(options.addresses) }),
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      let read = 0;
      const done = () => resolve(status);
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read >= options.maxResponseBytes) {
          res.destroy();
          done();
        }
      });
      res.on('end', done);
      res.on('close', done);
      // The status is known; a body cut short (timeout, reset) does not change it.
      res.on('error', done);
    });
    req.end(options.body);
  });
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
