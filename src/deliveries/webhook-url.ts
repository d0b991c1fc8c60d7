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
import ipaddr from "ipaddr.js";

/** `ALLOW_PRIVATE_WEBHOOKS=true`: local development may post to http and to private or loopback hosts. */
export function allowsPrivateTargets(env: { ALLOW_PRIVATE_WEBHOOKS?: string }): boolean {
  return env.ALLOW_PRIVATE_WEBHOOKS === "true";
}

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/**
 * Whether an IP address may be a webhook target, by ipaddr.js's table of
 * special-purpose ranges (the IANA registries that RFC 6890 set up): only
 * what it calls plain `unicast` is public. IPv6 must also be global unicast,
 * 2000::/3; addresses that carry an IPv4 address (mapped ::ffff:0:0/96,
 * NAT64 64:ff9b::/96) are judged by it. Anything ipaddr cannot parse is not
 * public.
 */
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR("2000::/3");
const NAT64_V6 = ipaddr.IPv6.parseCIDR("64:ff9b::/96");

function isPublicAddress(address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  if (address.kind() === "ipv4") return address.range() === "unicast";
  const v6 = address as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return isPublicAddress(v6.toIPv4Address());
  if (v6.match(NAT64_V6)) return isPublicAddress(ipaddr.fromByteArray(v6.toByteArray().slice(12)));
  return v6.match(GLOBAL_UNICAST_V6) && v6.range() === "unicast";
}

function isPublicIp(text: string): boolean {
  try {
    return isPublicAddress(ipaddr.parse(text));
  } catch {
    return false;
  }
}

const INTERNAL_SUFFIXES = ["localhost", "local", "internal", "intranet", "lan", "home.arpa", "localdomain"];

/**
 * Checked when an alias is saved (src/aliases/rules.ts) and again before
 * every post (src/deliveries/webhook.ts): ALLOW_PRIVATE_WEBHOOKS may have
 * changed in between.
 */
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
  // The URL parser has already written any IPv4 form (decimal, octal, hex, short) as four decimal parts.
  const internal = host.startsWith("[")
    ? !isPublicIp(host.slice(1, -1))
    : ipaddr.IPv4.isValidFourPartDecimal(host)
      ? !isPublicIp(host)
      : !host.includes(".") || INTERNAL_SUFFIXES.some((s) => host === s || host.endsWith(`.${s}`));
  return internal ? { ok: false, reason: `must not point to a private, loopback, link-local or internal address (${host})` } : { ok: true, url };
}
