/**
 * A small DNS-over-HTTPS client, the JSON API Cloudflare's and Google's
 * resolvers answer (`GET ?name=&type=` with `Accept: application/dns-json`):
 * a Worker has no resolver of its own, and this one can be pointed at a
 * local server in tests (`DOH_URL`). Every answer is a value: a resolver
 * that fails, times out or answers nonsense is an answer saying so, never a
 * throw, so the domain check turns it into an item instead of a 500.
 */

/** Cloudflare's public resolver: the default of `DOH_URL`. */
export const DEFAULT_DOH_URL = "https://cloudflare-dns.com/dns-query";

/** The record types the domain check asks for, with their numbers (RFC 1035 3.2.2, RFC 3596). */
export const DNS_TYPES = { A: 1, CNAME: 5, MX: 15, TXT: 16, AAAA: 28 } as const;
export type DnsType = keyof typeof DNS_TYPES;

/**
 * Why an answer could not be had. `servfail`: the domain's own name servers
 * failed (or DNSSEC validation did), so every resolver in the world fails the
 * same way; `resolver`: our resolver could not be asked (timeout, HTTP error,
 * not the JSON API), which says nothing about the domain.
 */
export type LookupFailure = { cause: "servfail" | "refused" | "resolver"; reason: string };

/**
 * One question's answer. `records` are the data of the asked type (TXT
 * strings already joined, MX as `<priority> <host>`, names lowercased
 * without the final dot); `cnames` the CNAME targets the resolver followed
 * on the way, in order.
 */
export type DnsAnswer =
  | { kind: "records"; records: string[]; cnames: string[] }
  | { kind: "no_records"; cnames: string[] }
  | { kind: "nxdomain"; cnames: string[] }
  | ({ kind: "failed" } & LookupFailure);

/** Asks one question; never throws. */
export type Resolve = (name: string, type: DnsType) => Promise<DnsAnswer>;

/** A name as DNS answers spell it, compared as written here: lowercase, no final dot. */
export function dnsName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, "");
}

/**
 * The text of a TXT record's data: the JSON API writes its character-strings
 * quoted (`"v=spf1 …" "… ~all"`), and a long record (a 2048-bit DKIM key, a
 * long SPF record) is split into several; RFC 7208 3.3 and RFC 6376 3.6.2.2
 * join them with nothing between. Unquoted data (some resolvers) is taken
 * as it is.
 */
export function txtText(data: string): string {
  const text = data.trim();
  if (!text.startsWith('"')) return text;
  let out = "";
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '"') {
      i += 1;
      continue;
    }
    i += 1;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\" && i + 1 < text.length) {
        // RFC 1035 5.1: \DDD is a byte in decimal, \X is X itself.
        const digits = /^\d{3}/.exec(text.slice(i + 1, i + 4));
        if (digits) {
          out += String.fromCharCode(Number(digits[0]));
          i += 4;
        } else {
          out += text[i + 1];
          i += 2;
        }
        continue;
      }
      out += text[i];
      i += 1;
    }
    i += 1;
  }
  return out;
}

function recordData(type: DnsType, data: string): string {
  switch (type) {
    case "TXT":
      return txtText(data);
    case "MX": {
      const [priority = "", host = ""] = data.trim().split(/\s+/);
      return `${priority} ${host === "." ? "." : dnsName(host)}`;
    }
    case "CNAME":
      return dnsName(data);
    case "A":
    case "AAAA":
      return data.trim().toLowerCase();
  }
}

type JsonRecord = { type: number; data: string };

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && typeof (value as JsonRecord).type === "number" && typeof (value as JsonRecord).data === "string";
}

/**
 * The answer a DoH JSON body gives to a question of `type`: its `Status`
 * (0 NOERROR, 3 NXDOMAIN, 2 SERVFAIL, 5 REFUSED, RFC 1035 4.1.1 and RFC 6895)
 * and the `Answer` records of that type, with the CNAMEs before them.
 */
export function readDohAnswer(body: unknown, type: DnsType): DnsAnswer {
  if (typeof body !== "object" || body === null || typeof (body as { Status?: unknown }).Status !== "number") {
    return { kind: "failed", cause: "resolver", reason: "the resolver's answer is not DNS JSON (no Status)" };
  }
  const status = (body as { Status: number }).Status;
  const answer = (body as { Answer?: unknown }).Answer;
  const records = Array.isArray(answer) ? answer.filter(isRecord) : [];
  const cnames = records.filter((r) => r.type === DNS_TYPES.CNAME).map((r) => dnsName(r.data));
  switch (status) {
    case 0: {
      const wanted = records.filter((r) => r.type === DNS_TYPES[type]).map((r) => recordData(type, r.data));
      if (wanted.length) return { kind: "records", records: wanted, cnames };
      if ((body as { TC?: unknown }).TC === true) return { kind: "failed", cause: "resolver", reason: "the answer was truncated (TC)" };
      return { kind: "no_records", cnames };
    }
    case 3:
      return { kind: "nxdomain", cnames };
    case 2:
      return { kind: "failed", cause: "servfail", reason: "SERVFAIL: the domain's name servers did not answer properly (or its DNSSEC signatures are broken)" };
    case 5:
      return { kind: "failed", cause: "refused", reason: "REFUSED by the resolver" };
    default:
      return { kind: "failed", cause: "resolver", reason: `the resolver answered with DNS status ${status}` };
  }
}

/** How long one question may take: a check asks a few dozen, in parallel. */
const DEFAULT_TIMEOUT_MS = 5000;

/**
 * A resolver asking `url` (the JSON API) with `fetcher`. Each question is
 * asked once per resolver: the SPF walk and the item rules ask some names
 * twice.
 */
export function dohResolver(url: string, options: { timeoutMs?: number; fetcher?: typeof fetch } = {}): Resolve {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const fetcher = options.fetcher ?? fetch;
  const asked = new Map<string, Promise<DnsAnswer>>();
  const ask = async (name: string, type: DnsType): Promise<DnsAnswer> => {
    const target = new URL(url);
    target.searchParams.set("name", name);
    target.searchParams.set("type", type);
    let response: Response;
    try {
      response = await fetcher(target.toString(), { headers: { Accept: "application/dns-json" }, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      return {
        kind: "failed",
        cause: "resolver",
        reason: timedOut ? `the resolver did not answer within ${timeoutMs} ms` : `the resolver could not be reached (${String(error)})`,
      };
    }
    if (!response.ok) {
      await response.body?.cancel();
      return { kind: "failed", cause: "resolver", reason: `the resolver answered HTTP ${response.status}` };
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      return { kind: "failed", cause: "resolver", reason: "the resolver's answer is not JSON" };
    }
    return readDohAnswer(body, type);
  };
  return (name, type) => {
    const key = `${dnsName(name)} ${type}`;
    let answer = asked.get(key);
    if (!answer) {
      answer = ask(dnsName(name), type);
      asked.set(key, answer);
    }
    return answer;
  };
}
