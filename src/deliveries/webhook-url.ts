/**
 * Which webhook URLs mailgate may post to (SSRF): https only, and never a
 * loopback, private, link-local or otherwise internal address, nor a name
 * that only means something inside a network (`localhost`, `*.internal`,
 * single labels). `allowPrivate` (the ALLOW_PRIVATE_WEBHOOKS variable)
 * lifts both rules for local development. Pure.
 *
 * Names are not resolved here (Workers have no DNS API): a public name that
 * resolves to a private address is stopped by the platform, whose fetch
 * goes out to the internet, not into a private network.
 */
/** `ALLOW_PRIVATE_WEBHOOKS=true`: local development may post to http and to private or loopback hosts. */
export function allowsPrivateTargets(env: { ALLOW_PRIVATE_WEBHOOKS?: string }): boolean {
  return env.ALLOW_PRIVATE_WEBHOOKS === "true";
}

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/** IPv4 ranges that are not the public internet (RFC 6890 and kin), as [first address, prefix length]. */
const PRIVATE_V4: [string, number][] = [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local (cloud metadata services live here)
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, and broadcast
];

const INTERNAL_SUFFIXES = ["localhost", "local", "internal", "intranet", "lan", "home.arpa", "localdomain"];

function v4Number(address: string): number | null {
  const parts = address.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return null;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function isPrivateV4(address: string): boolean {
  const n = v4Number(address);
  if (n === null) return false;
  return PRIVATE_V4.some(([first, bits]) => {
    const size = 2 ** (32 - bits);
    const start = v4Number(first)!;
    return n >= start && n < start + size;
  });
}

/** The 8 groups of an IPv6 address (as the URL parser writes it: compressed, lowercase, maybe with an IPv4 tail). */
function v6Groups(address: string): number[] | null {
  let text = address;
  const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4Tail) {
    const n = v4Number(v4Tail[1]!);
    if (n === null) return null;
    text = `${text.slice(0, -v4Tail[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const parse = (s: string) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/**
 * Public IPv6 is global unicast, 2000::/3, minus the special ranges inside
 * it (RFC 6890): IETF assignments 2001::/23 (Teredo among them),
 * documentation 2001:db8::/32, and 6to4 2002::/16, which wraps any IPv4
 * address. Addresses that carry an IPv4 address (mapped ::ffff:0:0/96,
 * NAT64 64:ff9b::/96) are judged by it; everything else is not public.
 */
function isPrivateV6(address: string): boolean {
  const g = v6Groups(address);
  if (!g) return true;
  const [a, b] = [g[0]!, g[1]!];
  const embeddedV4 = () => `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return isPrivateV4(embeddedV4());
  if (a === 0x64 && b === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return isPrivateV4(embeddedV4());
  if ((a & 0xe000) !== 0x2000) return true;
  if (a === 0x2001 && (b < 0x200 || b === 0x0db8)) return true;
  return a === 0x2002;
}

export function checkWebhookUrl(text: string, allowPrivate: boolean): UrlCheck {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: "is not a URL" };
  }
  if (url.protocol !== "https:" && !(allowPrivate && url.protocol === "http:")) return { ok: false, reason: "must be https" };
  if (url.username || url.password) return { ok: false, reason: "must not carry credentials (they would show in the alias); authenticate the request with its signature" };
  if (allowPrivate) return { ok: true, url };
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  const internal =
    host.startsWith("[")
      ? isPrivateV6(host.slice(1, -1))
      : v4Number(host) !== null
        ? isPrivateV4(host)
        : !host.includes(".") || INTERNAL_SUFFIXES.some((s) => host === s || host.endsWith(`.${s}`));
  return internal ? { ok: false, reason: `must not point to a private, loopback, link-local or internal address (${host})` } : { ok: true, url };
}
