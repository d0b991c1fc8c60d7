/**
 * Reading the mail records a domain publishes in DNS: MX, DMARC, DKIM keys,
 * MTA-STS and TLS-RPT. Pure: text in, a value out, with the reason a record
 * is unusable.
 */

/** One MX record: `<priority> <host>`; the null MX (RFC 7505) is priority 0 and host ".". */
export interface Mx {
  priority: number;
  host: string;
}

/** MX data as src/dns.ts writes it; null when it is not `<number> <host>`. */
export function parseMx(data: string): Mx | null {
  const match = /^(\d+) (\S+)$/.exec(data.trim());
  return match ? { priority: Number(match[1]), host: match[2]! } : null;
}

/** RFC 7505: a single MX of priority 0 and host ".": the domain accepts no mail. */
export function isNullMx(records: Mx[]): boolean {
  return records.some((r) => r.host === ".");
}

export type TagList = { ok: true; tags: Map<string, string> } | { ok: false; reason: string };

/**
 * A tag=value list (RFC 6376 3.2, used by DKIM, DMARC, MTA-STS and
 * TLS-RPT): `;`-separated, whitespace around tags and values ignored, an
 * empty last part allowed; a tag given twice makes the record invalid.
 */
export function parseTagList(text: string): TagList {
  const tags = new Map<string, string>();
  for (const part of text.split(";")) {
    if (!part.trim()) continue;
    const eq = part.indexOf("=");
    if (eq < 0) return { ok: false, reason: `"${part.trim().slice(0, 40)}" is not tag=value` };
    const tag = part.slice(0, eq).trim().toLowerCase();
    if (!/^[a-z][a-z0-9_]*$/.test(tag)) return { ok: false, reason: `"${tag.slice(0, 40)}" is not a tag name` };
    if (tags.has(tag)) return { ok: false, reason: `the tag ${tag} appears twice` };
    tags.set(tag, part.slice(eq + 1).trim());
  }
  return { ok: true, tags };
}

/** The records among `texts` that start with `prefix` (a version tag such as `v=DMARC1`), compared without case. */
export function recordsStartingWith(texts: string[], prefix: RegExp): string[] {
  return texts.filter((t) => prefix.test(t.trim()));
}

export type DmarcPolicy = "none" | "quarantine" | "reject";

export type Dmarc =
  | {
      ok: true;
      policy: DmarcPolicy;
      /** `sp`: the policy for subdomains, when given. */
      subdomainPolicy: DmarcPolicy | null;
      /** Percentage of failing mail the policy applies to (RFC 7489 6.3 `pct`, default 100). */
      percent: number;
      /** Aggregate report addresses (`rua`), as written. */
      reportTo: string[];
    }
  | { ok: false; reason: string };

const POLICIES: readonly string[] = ["none", "quarantine", "reject"];

/**
 * A DMARC record (RFC 7489 6.3, 6.4): `v=DMARC1` first, `p` required and one
 * of none/quarantine/reject. RFC 7489 6.6.3 lets a receiver read a record
 * with a bad `p` as `p=none` when it has `rua`; we call it invalid, since the
 * owner meant something else.
 */
export function parseDmarc(text: string): Dmarc {
  if (!/^v\s*=\s*DMARC1\s*(;|$)/i.test(text.trim())) return { ok: false, reason: "it does not start with v=DMARC1" };
  const list = parseTagList(text);
  if (!list.ok) return list;
  const p = list.tags.get("p")?.toLowerCase();
  if (p === undefined) return { ok: false, reason: "it has no p= (policy) tag" };
  if (!POLICIES.includes(p)) return { ok: false, reason: `p=${p.slice(0, 20)} is not none, quarantine or reject` };
  const sp = list.tags.get("sp")?.toLowerCase();
  const pct = list.tags.get("pct");
  const percent = pct === undefined ? 100 : Number(pct);
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) return { ok: false, reason: `pct=${pct} is not a whole number from 0 to 100` };
  const rua = list.tags.get("rua");
  return {
    ok: true,
    policy: p as DmarcPolicy,
    subdomainPolicy: sp && POLICIES.includes(sp) ? (sp as DmarcPolicy) : null,
    percent,
    reportTo: rua
      ? rua
          .split(",")
          .map((u) => u.trim())
          .filter(Boolean)
      : [],
  };
}

export type DkimKey = { ok: true; keyType: string; bits: number | null } | { ok: false; reason: string };

/**
 * A DKIM key record (RFC 6376 3.6.1): `v=DKIM1` first when present, `p` the
 * base64 public key; an empty `p` means the key was revoked. The size of an
 * RSA key is read from its DER length (a 1024-bit key is about 216 base64
 * characters, 2048 about 392), enough to tell a short key.
 */
export function parseDkimKey(text: string): DkimKey {
  const list = parseTagList(text);
  if (!list.ok) return list;
  const version = list.tags.get("v");
  if (version !== undefined && version !== "DKIM1") return { ok: false, reason: `v=${version.slice(0, 20)} is not DKIM1` };
  if (version !== undefined && !/^\s*v\s*=/i.test(text)) return { ok: false, reason: "v= must be the first tag" };
  const keyType = (list.tags.get("k") ?? "rsa").toLowerCase();
  if (keyType !== "rsa" && keyType !== "ed25519") return { ok: false, reason: `k=${keyType.slice(0, 20)} is not a known key type (rsa, ed25519)` };
  const p = list.tags.get("p");
  if (p === undefined) return { ok: false, reason: "it has no p= (public key)" };
  const key = p.replace(/\s+/g, "");
  if (!key) return { ok: false, reason: "p= is empty: the key was revoked (RFC 6376 3.6.1)" };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || key.length % 4 !== 0) return { ok: false, reason: "p= is not base64" };
  const bytes = (key.length / 4) * 3 - (key.endsWith("==") ? 2 : key.endsWith("=") ? 1 : 0);
  if (keyType === "ed25519") return bytes === 32 ? { ok: true, keyType, bits: 256 } : { ok: false, reason: `an ed25519 key is 32 bytes, this one ${bytes}` };
  // SubjectPublicKeyInfo wraps the modulus in about 38 bytes (a bare RSAPublicKey in about 10).
  if (bytes < 64) return { ok: false, reason: `p= is ${bytes} bytes: too short to be an RSA key` };
  return { ok: true, keyType, bits: Math.round(((bytes - 38) * 8) / 512) * 512 || null };
}

/** An MTA-STS record (RFC 8461 3.1): `v=STSv1; id=<1-32 letters and digits>`. */
export function parseMtaSts(text: string): { ok: true; id: string } | { ok: false; reason: string } {
  if (!/^v\s*=\s*STSv1\s*(;|$)/.test(text.trim())) return { ok: false, reason: "it does not start with v=STSv1" };
  const list = parseTagList(text);
  if (!list.ok) return list;
  const id = list.tags.get("id");
  if (id === undefined) return { ok: false, reason: "it has no id= (policy version)" };
  if (!/^[A-Za-z0-9]{1,32}$/.test(id)) return { ok: false, reason: `id=${id.slice(0, 40)} is not 1 to 32 letters and digits` };
  return { ok: true, id };
}

/** A TLS-RPT record (RFC 8460 3): `v=TLSRPTv1; rua=<mailto: or https: URIs>`. */
export function parseTlsRpt(text: string): { ok: true; reportTo: string[] } | { ok: false; reason: string } {
  if (!/^v\s*=\s*TLSRPTv1\s*(;|$)/.test(text.trim())) return { ok: false, reason: "it does not start with v=TLSRPTv1" };
  const list = parseTagList(text);
  if (!list.ok) return list;
  const rua = list.tags.get("rua");
  if (!rua) return { ok: false, reason: "it has no rua= (where reports go)" };
  const uris = rua.split(",").map((u) => u.trim());
  const bad = uris.find((u) => !/^(mailto:[^@\s]+@[^@\s]+|https:\/\/\S+)$/i.test(u));
  if (bad !== undefined) return { ok: false, reason: `rua=${bad.slice(0, 60)} is not a mailto: or https: URI` };
  return { ok: true, reportTo: uris };
}

/** Same domain, or one a subdomain of the other: the DMARC relaxed alignment this check asks for (RFC 7489 3.1, without the public suffix list). */
export function alignedDomains(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x === y || x.endsWith(`.${y}`) || y.endsWith(`.${x}`);
}
