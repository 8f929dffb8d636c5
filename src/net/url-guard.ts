import dns from 'node:dns';
import net from 'node:net';

/**
 * The one SSRF guard for every URL the worker fetches or calls because a job (or a
 * producer) said so: input images, per-job upload URLs, webhooks. A URL is allowed when
 * it is http(s) and every address its host resolves to is public, unless the operator
 * opted in to private addresses. See docs/architecture.md, "Outbound URLs".
 *
 * Checking the URL once is not enough (DNS can answer differently at connect time, and
 * redirects can point anywhere), so callers also pass {@link guardedLookup} as the DNS
 * lookup of the request, which checks the address actually connected to, and call
 * {@link checkUrl} again on every redirect.
 */

/** A URL refused by the guard; `reason` says why in words a producer understands. */
export class UrlRefusedError extends Error {
  override name = 'UrlRefusedError';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`${redactUrl(url)} is refused: ${reason}`);
  }
}

/** Options of the guard. */
export interface UrlGuardOptions {
  /** Allow loopback, private, link-local and other non-public addresses. */
  allowPrivate: boolean;
}

const blocked = new net.BlockList();
for (const [address, prefix] of [
  ['0.0.0.0', 8], // "this network", includes the unspecified address
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(address, prefix, 'ipv4');
}
for (const [address, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
  ['64:ff9b::', 96], // NAT64 of any IPv4 address: judged by the embedded address below
] as const) {
  blocked.addSubnet(address, prefix, 'ipv6');
}

/** Whether an IP address (v4 or v6 text) is one the guard refuses without the opt-in. */
export function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family !== 6) return true; // not an address at all: refuse rather than guess
  const mapped = embeddedIpv4(address);
  if (mapped !== undefined) return blocked.check(mapped, 'ipv4');
  return blocked.check(address, 'ipv6');
}

/** The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d` / `::ffff:7f00:1`) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const match =
    /^(?:0{0,4}:){0,4}:?(?:0{0,4}:)?ffff:(.+)$/.exec(lower) ?? /^::(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (!match?.[1]) return undefined;
  const tail = match[1];
  if (net.isIPv4(tail)) return tail;
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(tail);
  if (!hex?.[1] || !hex[2]) return undefined;
  const high = parseInt(hex[1], 16);
  const low = parseInt(hex[2], 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * Parses and checks a URL: http(s) only, no credentials in it, and (unless allowed) a host
 * that is not a private address literal. Hostnames are checked at connect time by
 * {@link guardedLookup}; call {@link resolvePublicUrl} to check them ahead of time.
 */
export function checkUrl(text: string, options: UrlGuardOptions): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UrlRefusedError(text, 'not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UrlRefusedError(
      text,
      `only http and https URLs are allowed, not ${url.protocol.replace(/:$/, '')}`,
    );
  }
  const host = hostOf(url);
  if (!options.allowPrivate && net.isIP(host) !== 0 && isPrivateAddress(host)) {
    throw new UrlRefusedError(text, `${host} is a private, loopback or link-local address`);
  }
  return url;
}

/** Like {@link checkUrl}, and resolves a hostname now, refusing it when any address is private. */
export async function resolvePublicUrl(text: string, options: UrlGuardOptions): Promise<URL> {
  const url = checkUrl(text, options);
  const host = hostOf(url);
  if (options.allowPrivate || net.isIP(host) !== 0) return url;
  let addresses: dns.LookupAddress[];
  try {
    addresses = await dns.promises.lookup(host, { all: true });
  } catch (error) {
    throw new UrlRefusedError(
      text,
      `its host does not resolve (${(error as NodeJS.ErrnoException).code ?? 'DNS error'})`,
    );
  }
  const bad = addresses.find(entry => isPrivateAddress(entry.address));
  if (bad) {
    throw new UrlRefusedError(
      text,
      `${host} resolves to ${bad.address}, a private, loopback or link-local address`,
    );
  }
  return url;
}

/**
 * A `dns.lookup` replacement for outgoing requests (got's `dnsLookup`, http's `lookup`):
 * it resolves, refuses private addresses unless allowed, and hands back only the addresses
 * it checked, so the connection goes to a checked address.
 */
export function guardedLookup(options: UrlGuardOptions): net.LookupFunction {
  return (hostname, lookupOptions, callback) => {
    dns.lookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const list = addresses;
      const bad = options.allowPrivate ? undefined : list.find(entry => isPrivateAddress(entry.address));
      if (bad) {
        const refused = Object.assign(
          new UrlRefusedError(
            `http://${hostname}/`,
            `${hostname} resolves to ${bad.address}, a private, loopback or link-local address`,
          ),
          { code: 'ERR_URL_REFUSED' },
        );
        callback(refused, '', 0);
        return;
      }
      if (lookupOptions.all) {
        (callback as unknown as (error: null, addresses: dns.LookupAddress[]) => void)(null, list);
        return;
      }
      const first = list[0];
      if (!first) {
        callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
        return;
      }
      callback(null, first.address, first.family);
    });
  };
}

/** A URL for logs and messages: no credentials, no query string (presigned URLs sign there). */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    url.username = '';
    url.password = '';
    const hadQuery = url.search !== '';
    url.search = '';
    url.hash = '';
    return hadQuery ? `${url.toString()}?…` : url.toString();
  } catch {
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  }
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}
