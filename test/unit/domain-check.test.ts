/**
 * The domain check's pure parts as tables: the DoH JSON reading (src/dns.ts),
 * record parsers, the SPF walk with a resolver made of a table, and the item
 * rules from answers and configuration (src/domain-check/).
 */
import { describe, expect, it } from "vitest";
import { type DnsAnswer, type DnsType, dohResolver, readDohAnswer, txtText } from "../../src/dns";
import { parseDkimKey, parseDmarc, parseMtaSts, parseTlsRpt } from "../../src/domain-check/records";
import { type CheckConfig, type CheckRelay, checkItems, questionsFor } from "../../src/domain-check/rules";
import { parseSpf, walkSpf } from "../../src/domain-check/spf";

const KEY_2048 = `MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA${"A".repeat(342)}IDAQAB`;

describe("DoH JSON answers", () => {
  it.each([
    ['"v=spf1 include:a" " ~all"', "v=spf1 include:a ~all"],
    ['"v=spf1 -all"', "v=spf1 -all"],
    ['"a\\"b" "c\\\\d"', 'a"bc\\d'],
    ['"caf\\195\\169"', "caf\u00c3\u00a9"],
    ["v=spf1 unquoted", "v=spf1 unquoted"],
  ])("TXT %s reads %s", (data, text) => {
    expect(txtText(data)).toBe(text);
  });

  it.each<[unknown, DnsType, DnsAnswer]>([
    [{ Status: 0, Answer: [{ name: "a.", type: 15, TTL: 1, data: "10 MX.Example.COM." }] }, "MX", { kind: "records", records: ["10 mx.example.com"], cnames: [] }],
    [
      {
        Status: 0,
        Answer: [
          { type: 5, data: "b.example." },
          { type: 16, data: '"x" "y"' },
        ],
      },
      "TXT",
      { kind: "records", records: ["xy"], cnames: ["b.example"] },
    ],
    [{ Status: 0 }, "TXT", { kind: "no_records", cnames: [] }],
    [{ Status: 3 }, "MX", { kind: "nxdomain", cnames: [] }],
    [{ Status: 2 }, "MX", { kind: "failed", cause: "servfail", reason: expect.stringMatching(/^SERVFAIL/) as unknown as string }],
    [{ Status: 5 }, "MX", { kind: "failed", cause: "refused", reason: "REFUSED by the resolver" }],
    [{ Status: 0, TC: true }, "TXT", { kind: "failed", cause: "resolver", reason: "the answer was truncated (TC)" }],
    ["<html>", "MX", { kind: "failed", cause: "resolver", reason: "the resolver's answer is not DNS JSON (no Status)" }],
  ])("%j as %s", (body, type, answer) => {
    expect(readDohAnswer(body, type)).toEqual(answer);
  });

  it("asks with the JSON Accept header, once per question, and turns failures into answers", async () => {
    const asked: string[] = [];
    const resolve = dohResolver("https://doh.example/dns-query", {
      fetcher: (async (url: string, init: RequestInit) => {
        asked.push(`${url} ${(init.headers as Record<string, string>).Accept}`);
        return new Response(JSON.stringify({ Status: 0, Answer: [{ type: 1, data: "192.0.2.1" }] }));
      }) as typeof fetch,
    });
    expect(await resolve("Example.COM.", "A")).toEqual({ kind: "records", records: ["192.0.2.1"], cnames: [] });
    await resolve("example.com", "A");
    expect(asked).toEqual(["https://doh.example/dns-query?name=example.com&type=A application/dns-json"]);

    const down = dohResolver("https://doh.example/", { fetcher: (async () => Promise.reject(new TypeError("connection refused"))) as typeof fetch });
    expect(await down("a.example", "MX")).toMatchObject({ kind: "failed", cause: "resolver", reason: expect.stringMatching(/could not be reached/) });
    const slow = dohResolver("https://doh.example/", {
      timeoutMs: 20,
      fetcher: ((_url: string, init: RequestInit) => new Promise((_, reject) => init.signal!.addEventListener("abort", () => reject(init.signal!.reason)))) as typeof fetch,
    });
    expect(await slow("a.example", "MX")).toEqual({ kind: "failed", cause: "resolver", reason: "the resolver did not answer within 20 ms" });
    const broken = dohResolver("https://doh.example/", { fetcher: (async () => new Response("no", { status: 502 })) as typeof fetch });
    expect(await broken("a.example", "MX")).toEqual({ kind: "failed", cause: "resolver", reason: "the resolver answered HTTP 502" });
  });
});

describe("records", () => {
  it.each([
    ["v=DMARC1; p=reject; rua=mailto:a@x.example,mailto:b@y.example", { ok: true, policy: "reject", reportTo: ["mailto:a@x.example", "mailto:b@y.example"], percent: 100 }],
    ["v=DMARC1;p=none", { ok: true, policy: "none", reportTo: [] }],
    ["v=DMARC1; p=quarantine; sp=reject; pct=50", { ok: true, policy: "quarantine", subdomainPolicy: "reject", percent: 50 }],
    ["v=DMARC1; rua=mailto:a@x.example", { ok: false, reason: "it has no p= (policy) tag" }],
    ["v=DMARC1; p=block", { ok: false, reason: "p=block is not none, quarantine or reject" }],
    ["p=reject; v=DMARC1", { ok: false, reason: "it does not start with v=DMARC1" }],
    ["v=DMARC1; p=reject; p=none", { ok: false, reason: "the tag p appears twice" }],
  ])("DMARC %s", (text, result) => {
    expect(parseDmarc(text)).toMatchObject(result);
  });

  it.each([
    [`v=DKIM1; k=rsa; p=${KEY_2048}`, { ok: true, keyType: "rsa", bits: 2048 }],
    [`k=rsa; p=${KEY_2048}`, { ok: true }],
    ["v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", { ok: true, keyType: "ed25519" }],
    ["v=DKIM1; p=", { ok: false, reason: "p= is empty: the key was revoked (RFC 6376 3.6.1)" }],
    ["v=DKIM1; p=not a key", { ok: false, reason: "p= is not base64" }],
    ["v=DKIM1; k=dsa; p=AAAA", { ok: false, reason: "k=dsa is not a known key type (rsa, ed25519)" }],
    ["v=DKIM2; p=AAAA", { ok: false, reason: "v=DKIM2 is not DKIM1" }],
    ["v=DKIM1; k=rsa", { ok: false, reason: "it has no p= (public key)" }],
    ["v=DKIM1; p=AAAA", { ok: false, reason: "p= is 3 bytes: too short to be an RSA key" }],
  ])("DKIM %s", (text, result) => {
    expect(parseDkimKey(text)).toMatchObject(result);
  });

  it.each([
    ["v=STSv1; id=20260101T000000", { ok: true, id: "20260101T000000" }],
    ["v=STSv1;", { ok: false, reason: "it has no id= (policy version)" }],
    ["v=STSv1; id=2026-01-01", { ok: false }],
  ])("MTA-STS %s", (text, result) => {
    expect(parseMtaSts(text)).toMatchObject(result);
  });

  it.each([
    ["v=TLSRPTv1; rua=mailto:tls@example.com", { ok: true, reportTo: ["mailto:tls@example.com"] }],
    ["v=TLSRPTv1; rua=https://reports.example/tls,mailto:a@b.example", { ok: true }],
    ["v=TLSRPTv1", { ok: false, reason: "it has no rua= (where reports go)" }],
    ["v=TLSRPTv1; rua=tls@example.com", { ok: false }],
  ])("TLS-RPT %s", (text, result) => {
    expect(parseTlsRpt(text)).toMatchObject(result);
  });
});

/** A resolver answering TXT from a table; names not in it do not exist. */
function table(zone: Record<string, string[] | "servfail">) {
  const asked: string[] = [];
  const resolve = async (name: string, type: DnsType): Promise<DnsAnswer> => {
    asked.push(`${name} ${type}`);
    const entry = zone[name];
    if (entry === "servfail") return { kind: "failed", cause: "servfail", reason: "SERVFAIL" };
    if (entry === undefined) return { kind: "nxdomain", cnames: [] };
    return entry.length ? { kind: "records", records: entry, cnames: [] } : { kind: "no_records", cnames: [] };
  };
  return { resolve, asked };
}

describe("SPF", () => {
  it.each([
    ["v=spf1 -all", true],
    ["v=spf1 include:_spf.example.com ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx/24 a:mail.example.com ?all", true],
    ["v=spf1 redirect=_spf.example.com", true],
    ["v=spf1 exp=explain.example.com -all", true],
    ["v=spf1 include -all", false],
    ["v=spf1 ip4 -all", false],
    ["v=spf1 all:x", false],
    ["v=spf1 foo:bar -all", false],
    ["v=spf1 redirect=a.example redirect=b.example", false],
    ["spf1 -all", false],
  ])("%s parses: %s", (record, parses) => {
    expect(parseSpf(record).ok).toBe(parses);
  });

  it.each<[string, Record<string, string[] | "servfail">, Record<string, unknown>]>([
    ["a plain record", { "d.example": ["v=spf1 ip4:192.0.2.1 -all"] }, { outcome: "walked", lookups: 0, all: "-", problems: [] }],
    [
      "nested includes, each a lookup",
      { "d.example": ["v=spf1 include:a.example mx ~all"], "a.example": ["v=spf1 include:b.example a ~all"], "b.example": ["v=spf1 ip4:192.0.2.1 ~all"] },
      { outcome: "walked", lookups: 4, includes: ["a.example", "b.example"], all: "~", problems: [] },
    ],
    [
      "a redirect: its all ends evaluation",
      { "d.example": ["v=spf1 redirect=r.example"], "r.example": ["v=spf1 include:a.example -all"], "a.example": ["v=spf1 -all"] },
      { outcome: "walked", lookups: 2, all: "-" },
    ],
    ["a redirect next to all is ignored", { "d.example": ["v=spf1 -all redirect=r.example"] }, { outcome: "walked", lookups: 0, includes: [] }],
    [
      "over 10 lookups",
      {
        "d.example": ["v=spf1 a mx a:x.example mx:x.example exists:x.example include:a.example -all"],
        "a.example": ["v=spf1 a mx a:y.example mx:y.example exists:y.example ~all"],
      },
      { outcome: "walked", lookups: 11, problems: [{ severity: "fail", text: "more than 10 DNS lookups (permerror, RFC 7208 4.6.4)" }] },
    ],
    [
      "an include of a domain without SPF: void and permerror",
      { "d.example": ["v=spf1 include:gone.example include:empty.example ~all"], "empty.example": [] },
      { outcome: "walked", voidLookups: 2, problems: [{ severity: "fail" }, { severity: "fail" }] },
    ],
    [
      "three void includes: over the void limit",
      { "d.example": ["v=spf1 include:a.example include:b.example include:c.example ~all"] },
      { outcome: "walked", voidLookups: 3, problems: expect.arrayContaining([{ severity: "fail", text: "3 lookups found nothing, more than 2 (permerror, RFC 7208 4.6.4)" }]) },
    ],
    [
      "a loop stops",
      { "d.example": ["v=spf1 include:a.example ~all"], "a.example": ["v=spf1 include:d.example ~all"] },
      { outcome: "walked", problems: [{ severity: "fail", text: "a.example includes d.example again: a loop" }] },
    ],
    [
      "an include that fails to resolve",
      { "d.example": ["v=spf1 include:s.example ~all"], "s.example": "servfail" },
      { outcome: "walked", problems: [{ severity: "fail", text: "the lookup of s.example failed: SERVFAIL" }] },
    ],
    [
      "a nested syntax error",
      { "d.example": ["v=spf1 include:a.example ~all"], "a.example": ["v=spf1 bogus ~all"] },
      { outcome: "walked", problems: [{ severity: "fail", text: 'the record of a.example: "bogus" is not an SPF mechanism (permerror)' }] },
    ],
    ["ptr is discouraged", { "d.example": ["v=spf1 ptr ~all"] }, { outcome: "walked", lookups: 1, problems: [{ severity: "warn" }] }],
    ["a macro include is counted, not followed", { "d.example": ["v=spf1 include:%{i}._ip.example ~all"] }, { outcome: "walked", lookups: 1, problems: [] }],
    ["two records", { "d.example": ["v=spf1 -all", "v=spf1 ~all", "other"] }, { outcome: "multiple", records: ["v=spf1 -all", "v=spf1 ~all"] }],
    ["none among other TXT records", { "d.example": ["google-site-verification=x", "v=spf10"] }, { outcome: "none" }],
    ["no such domain", {}, { outcome: "none" }],
    ["the lookup fails", { "d.example": "servfail" }, { outcome: "lookup_failed" }],
  ])("%s", async (_, zone, result) => {
    expect(await walkSpf("d.example", table(zone).resolve)).toMatchObject(result);
  });

  it("stops following includes once past the limit", async () => {
    const zone: Record<string, string[]> = { "d.example": [`v=spf1 ${Array.from({ length: 15 }, (_, i) => `include:i${i}.example`).join(" ")} -all`] };
    for (let i = 0; i < 15; i++) zone[`i${i}.example`] = ["v=spf1 -all"];
    const { resolve, asked } = table(zone);
    expect(await walkSpf("d.example", resolve)).toMatchObject({ lookups: 15 });
    expect(asked).toHaveLength(11); // the record, then the first 10 includes
  });
});

// ---- the rules --------------------------------------------------------------

const DOMAIN = "d.example";
const CF_MX = ["13 route1.mx.cloudflare.net", "86 route2.mx.cloudflare.net", "24 route3.mx.cloudflare.net"];
const DKIM = `v=DKIM1; k=rsa; p=${KEY_2048}`;

/** Every answer of a well-kept domain with a Cloudflare Email Service relay; `changes` replaces some. */
function answersWith(changes: Record<string, DnsAnswer> = {}) {
  const records = (...r: string[]): DnsAnswer => ({ kind: "records", records: r, cnames: [] });
  const zone: Record<string, DnsAnswer> = {
    [`${DOMAIN} MX`]: records(...CF_MX),
    [`_dmarc.${DOMAIN} TXT`]: records(`v=DMARC1; p=reject; rua=mailto:r@${DOMAIN}`),
    [`_mta-sts.${DOMAIN} TXT`]: records("v=STSv1; id=1"),
    [`_smtp._tls.${DOMAIN} TXT`]: records(`v=TLSRPTv1; rua=mailto:t@${DOMAIN}`),
    [`cf2024-1._domainkey.${DOMAIN} TXT`]: records(DKIM),
    [`cf-bounce._domainkey.${DOMAIN} TXT`]: records(DKIM),
    [`cf-bounce.${DOMAIN} MX`]: records(...CF_MX),
    [`cf-bounce.${DOMAIN} TXT`]: records("v=spf1 include:_spf.mx.cloudflare.net ~all"),
    ...changes,
  };
  return (name: string, type: string): DnsAnswer => zone[`${name} ${type}`] ?? { kind: "nxdomain", cnames: [] };
}

const relay = (fields: Partial<CheckRelay> = {}): CheckRelay => ({
  id: "r1",
  name: "cf",
  type: "cloudflare",
  fromFilter: DOMAIN,
  sequence: 10,
  stream: "transactional",
  enabled: true,
  config: {},
  ...fields,
});

function configWith(fields: Partial<CheckConfig> = {}): CheckConfig {
  return {
    domain: { name: DOMAIN, companyName: null, catchall: "catchall", bounce: "bounce", defaultFrom: "notifications" },
    aliases: [{ address: `sales@${DOMAIN}`, name: "sales", domain: DOMAIN, localPartOnly: false, enabled: true, destinations: [{ type: "store" }] }],
    relays: [relay()],
    publicUrl: "https://mail.example",
    ...fields,
  };
}

const SPF_OK = {
  outcome: "walked",
  record: "v=spf1 include:_spf.mx.cloudflare.net ~all",
  lookups: 1,
  voidLookups: 0,
  includes: ["_spf.mx.cloudflare.net"],
  all: "~",
  problems: [],
} as const;

function statuses(
  config: CheckConfig,
  changes: Record<string, DnsAnswer> = {},
  spf: Parameters<typeof checkItems>[0]["spf"] = { ...SPF_OK, includes: [...SPF_OK.includes], problems: [] },
) {
  const items = checkItems({ config, answers: answersWith(changes), spf, today: "20261130" });
  return Object.fromEntries(items.map((i) => [i.id, [i.status, i.reason]]));
}

const records = (...r: string[]): DnsAnswer => ({ kind: "records", records: r, cnames: [] });

describe("the rules", () => {
  it("a well-kept domain passes everything", () => {
    const all = statuses(configWith());
    expect(Object.keys(all)).toEqual([
      "mx",
      "spf",
      "dkim_routing",
      "dkim:r1",
      "return_path:r1",
      "dmarc",
      "mta_sts",
      "tls_rpt",
      "catchall",
      "bounce",
      "relays",
      "relay:r1",
      "public_url",
    ]);
    expect(Object.values(all).filter(([s]) => s !== "pass")).toEqual([]);
  });

  it.each<[string, Partial<CheckConfig>, Record<string, DnsAnswer>, Record<string, [string, RegExp]>]>([
    ["MX prefers another host", {}, { [`${DOMAIN} MX`]: records("5 mx.other.example", ...CF_MX) }, { mx: ["fail", /prefers mx\.other\.example \(5\)/] }],
    ["a backup MX elsewhere", {}, { [`${DOMAIN} MX`]: records("99 mx.other.example", ...CF_MX) }, { mx: ["warn", /as a backup/] }],
    ["one Cloudflare route missing", {}, { [`${DOMAIN} MX`]: records(...CF_MX.slice(0, 2)) }, { mx: ["warn", /lacks route3/] }],
    ["receives nothing with Cloudflare's MX", { aliases: [], relays: [] }, {}, { mx: ["warn", /publish a null MX/], relays: ["warn", /no relay is enabled/] }],
    [
      "receives nothing: MTA-STS and TLS-RPT are not needed",
      { aliases: [], relays: [] },
      { [`_mta-sts.${DOMAIN} TXT`]: { kind: "nxdomain", cnames: [] }, [`_smtp._tls.${DOMAIN} TXT`]: { kind: "no_records", cnames: [] } },
      { mta_sts: ["pass", /none is needed/], tls_rpt: ["pass", /none is needed/] },
    ],
    ["receives nothing and no MX", { aliases: [], relays: [] }, { [`${DOMAIN} MX`]: { kind: "no_records", cnames: [] } }, { mx: ["warn", /publish a null MX/] }],
    [
      "the resolver fails: a warn",
      {},
      { [`${DOMAIN} MX`]: { kind: "failed", cause: "resolver", reason: "the resolver did not answer within 5000 ms" } },
      { mx: ["warn", /lookup of MX d\.example failed/] },
    ],
    [
      "DMARC inherited from the parent: its sp applies",
      { domain: { name: `sub.${DOMAIN}`, companyName: null, catchall: "catchall", bounce: "bounce", defaultFrom: "notifications" } },
      {},
      { dmarc: ["pass", /_dmarc\.d\.example \(inherited: sub\.d\.example has none of its own\): p=reject/] },
    ],
    ["two DMARC records", {}, { [`_dmarc.${DOMAIN} TXT`]: records("v=DMARC1; p=reject", "v=DMARC1; p=none") }, { dmarc: ["fail", /2 DMARC records/] }],
    ["pct below 100", {}, { [`_dmarc.${DOMAIN} TXT`]: records(`v=DMARC1; p=reject; pct=20; rua=mailto:r@${DOMAIN}`) }, { dmarc: ["warn", /pct=20/] }],
    ["an invalid TLS-RPT", {}, { [`_smtp._tls.${DOMAIN} TXT`]: records("v=TLSRPTv1; rua=nowhere") }, { tls_rpt: ["fail", /not a mailto: or https: URI/] }],
    ["two MTA-STS records", {}, { [`_mta-sts.${DOMAIN} TXT`]: records("v=STSv1; id=1", "v=STSv1; id=2") }, { mta_sts: ["fail", /2 MTA-STS records/] }],
    [
      "a local-part-only alias takes the catchall",
      { aliases: [{ address: "catchall", name: "catchall", domain: null, localPartOnly: true, enabled: true, destinations: [{ type: "store" }] }] },
      {},
      { catchall: ["fail", /is also the alias catchall/] },
    ],
    [
      "a webhook without PUBLIC_URL",
      {
        publicUrl: null,
        aliases: [{ address: `h@${DOMAIN}`, name: "h", domain: DOMAIN, localPartOnly: false, enabled: true, destinations: [{ type: "webhook", url: "https://hook.example" }] }],
      },
      {},
      { public_url: ["warn", /carry no download links/] },
    ],
    ["PUBLIC_URL over http", { publicUrl: "http://mail.example" }, {}, { public_url: ["warn", /is not https/] }],
    ["no relay allows the domain", { relays: [relay({ fromFilter: "other.example" })] }, {}, { relays: ["warn", /would go through cf \(Odoo's last resort\)/] }],
    [
      "a relay without filter rewrites to a notifications address elsewhere",
      { relays: [relay({ fromFilter: null })], domain: { name: DOMAIN, companyName: null, catchall: "catchall", bounce: "bounce", defaultFrom: "noreply@other.example" } },
      {},
      { "relay:r1": ["fail", /as From noreply@other\.example/] },
    ],
    [
      "Mailgun signing on another domain",
      { relays: [relay({ type: "mailgun", config: { domain: "mg.other.example" } })] },
      { "pic._domainkey.mg.other.example TXT": records(DKIM), "mg.other.example TXT": records("v=spf1 include:mailgun.org ~all") },
      { "relay:r1": ["fail", /Mailgun's domain mg\.other\.example/] },
    ],
    [
      "Mailgun on the domain itself: the domain's SPF must include it",
      { relays: [relay({ type: "mailgun", config: { domain: DOMAIN } })] },
      { [`mx._domainkey.${DOMAIN} TXT`]: records(DKIM) },
      { spf: ["fail", /lacks include:mailgun\.org, which cf \(Mailgun\) needs/] },
    ],
    [
      "Mailgun without a key at any documented selector",
      { relays: [relay({ type: "mailgun", config: { domain: DOMAIN } })] },
      {},
      { "dkim:r1": ["warn", /no DKIM key at Mailgun's documented selectors/] },
    ],
    [
      "SendGrid keys pointing elsewhere",
      { relays: [relay({ type: "sendgrid" })] },
      { [`s1._domainkey.${DOMAIN} TXT`]: { kind: "records", records: [DKIM], cnames: ["s1.other.example"] }, [`s2._domainkey.${DOMAIN} TXT`]: records(DKIM) },
      { "dkim:r1": ["warn", /CNAME to s1\.other\.example, not to sendgrid\.net/] },
    ],
    [
      "a dangling DKIM CNAME",
      { relays: [relay({ type: "sendgrid" })] },
      { [`s1._domainkey.${DOMAIN} TXT`]: { kind: "nxdomain", cnames: ["s1.gone.sendgrid.net"] }, [`s2._domainkey.${DOMAIN} TXT`]: records(DKIM) },
      { "dkim:r1": ["fail", /holds no key/] },
    ],
    [
      "a fixed sender on the domain keeps the SPF include rule",
      { relays: [relay({ type: "smtp", config: { host: "smtp.office365.com", fixed_sender: `box@${DOMAIN}` } })] },
      { [`selector1._domainkey.${DOMAIN} TXT`]: records(DKIM) },
      { spf: ["fail", /lacks include:spf\.protection\.outlook\.com/] },
    ],
  ])("%s", (_, config, changes, expected) => {
    const all = statuses(configWith(config), changes);
    for (const [id, [status, reason]] of Object.entries(expected)) {
      expect(all[id]?.[0], id).toBe(status);
      expect(all[id]?.[1], id).toMatch(reason);
    }
  });

  it("asks each question once, forward destinations with their address records", () => {
    const config = configWith({
      aliases: [
        {
          address: `s@${DOMAIN}`,
          name: "s",
          domain: DOMAIN,
          localPartOnly: false,
          enabled: true,
          destinations: [
            { type: "forward", to: "a@x.example" },
            { type: "forward", to: "b@x.example" },
          ],
        },
      ],
    });
    const questions = questionsFor(config).map((q) => `${q.name} ${q.type}`);
    expect(questions).toEqual([...new Set(questions)]);
    expect(questions).toEqual(expect.arrayContaining(["x.example MX", "x.example A", "x.example AAAA", "_dmarc.d.example TXT"]));
    // DMARC falls back to parents down to two labels (the organizational domain, without the public suffix list).
    expect(
      questionsFor(configWith({ domain: { ...config.domain, name: "a.b.d.example" } }))
        .filter((q) => q.name.startsWith("_dmarc."))
        .map((q) => q.name),
    ).toEqual(["_dmarc.a.b.d.example", "_dmarc.b.d.example", "_dmarc.d.example"]);
  });

  it("SPF: the lookups it found, and the record to publish with what is missing", () => {
    const items = checkItems({
      config: configWith({ relays: [relay({ type: "smtp", config: { host: "smtp.gmail.com" } })] }),
      answers: answersWith({ [`google._domainkey.${DOMAIN} TXT`]: records(DKIM) }),
      spf: { ...SPF_OK, includes: [...SPF_OK.includes], problems: [] },
      today: "20261130",
    });
    expect(items.find((i) => i.id === "spf")).toMatchObject({
      status: "fail",
      lookups: 1,
      void_lookups: 0,
      records: [{ type: "TXT", name: DOMAIN, value: "v=spf1 include:_spf.google.com include:_spf.mx.cloudflare.net ~all" }],
    });
  });
});
