/**
 * Vitest global setup (Node): a local DNS-over-HTTPS resolver speaking the
 * JSON API of Cloudflare's (`GET /dns-query?name=&type=` with `Accept:
 * application/dns-json`), serving the fixed zones below: a domain where
 * everything is right, and domains each broken in one way, for
 * test/domain-check.test.ts. Like Cloudflare's, it refuses a request
 * without the JSON Accept header (or `ct=application/dns-json`), without
 * `name`, or with a type it does not know (400), follows CNAMEs itself
 * (the chain comes first in `Answer`), writes TXT data as quoted
 * character-strings of at most 255 bytes, answers NXDOMAIN (3) for names
 * that do not exist and SERVFAIL (2) for the zone that is broken.
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

const TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, CAA: 257 } as const;
type TypeName = keyof typeof TYPES;

type Rr = { type: TypeName; data: string };
/** Names that answer SERVFAIL, with every name under them. */
const SERVFAIL = ["servfail.dns.test"];

const key = (bits: number) => generateKeyPairSync("rsa", { modulusLength: bits }).publicKey.export({ type: "spki", format: "der" }).toString("base64");
/** A 2048-bit key: 392 base64 characters, so its TXT record is split into two character-strings, as real ones are. */
const KEY = key(2048);
const dkim = (k = KEY) => `v=DKIM1; k=rsa; p=${k}`;

const txt = (data: string): Rr => ({ type: "TXT", data });
const mx = (data: string): Rr => ({ type: "MX", data });
const cname = (data: string): Rr => ({ type: "CNAME", data });
const CLOUDFLARE_MX = [mx("13 route1.mx.cloudflare.net."), mx("86 route2.mx.cloudflare.net."), mx("24 route3.mx.cloudflare.net.")];

type Zone = Record<string, Rr[]>;

/** A domain set up as the README says: Email Routing, SPF, DMARC with reports, MTA-STS, TLS-RPT; `without` drops names (relative, "@" for the domain). */
function wellKept(domain: string, without: string[] = [], extra: Zone = {}): Zone {
  const zone: Zone = {
    "@": [...CLOUDFLARE_MX, txt("v=spf1 include:_spf.mx.cloudflare.net ~all"), txt("google-site-verification=abc123")],
    "cf2024-1._domainkey": [txt(dkim())],
    _dmarc: [txt(`v=DMARC1; p=reject; rua=mailto:dmarc@${domain}`)],
    "_mta-sts": [txt("v=STSv1; id=20260101T000000")],
    "_smtp._tls": [txt(`v=TLSRPTv1; rua=mailto:tls@${domain}`)],
    // Cloudflare Email Service (the cloudflare relay)
    "cf-bounce._domainkey": [txt(dkim())],
    "cf-bounce": [...CLOUDFLARE_MX, txt("v=spf1 include:_spf.mx.cloudflare.net ~all")],
  };
  for (const name of without) delete zone[name];
  const out: Zone = {};
  for (const [name, records] of Object.entries({ ...zone, ...extra })) out[name === "@" ? domain : `${name}.${domain}`] = records;
  return out;
}

function replace(zone: Zone, name: string, records: Rr[]): Zone {
  return { ...zone, [name]: records };
}

const ZONES: Zone = {
  // The rest of the internet the zones refer to.
  "_spf.mx.cloudflare.net": [txt("v=spf1 ip4:104.30.0.0/19 ~all")],
  "mailgun.org": [txt("v=spf1 include:_spf.mailgun.org ~all")],
  "_spf.mailgun.org": [txt("v=spf1 ip4:209.61.151.0/24 ~all")],
  "amazonses.com": [txt("v=spf1 ip4:199.255.192.0/22 ~all")],
  "sendgrid.net": [txt("v=spf1 ip4:167.89.0.0/17 ~all")],
  "_spf.google.com": [txt("v=spf1 include:_netblocks.google.com include:_netblocks2.google.com ~all")],
  "_netblocks.google.com": [txt("v=spf1 ip4:35.190.247.0/24 ~all")],
  "_netblocks2.google.com": [txt("v=spf1 ip6:2001:4860:4000::/36 ~all")],
  // SendGrid's key hosts: a CNAME chain of two, as its branded links are.
  "s1.domainkey.u1.wl1.sendgrid.net": [cname("s1.keys.sendgrid.net.")],
  "s1.keys.sendgrid.net": [txt(dkim())],
  "s2.domainkey.u1.wl1.sendgrid.net": [cname("s2.keys.sendgrid.net.")],
  "s2.keys.sendgrid.net": [txt(dkim())],
  "pm.mtasv.net": [txt("v=spf1 ip4:50.31.156.0/24 ~all")],
  // Forward destinations.
  "inbox.dns.test": [mx("10 mx.inbox.dns.test.")],
  "nomail.dns.test": [mx("0 .")],
  "arecord.dns.test": [{ type: "A", data: "192.0.2.10" }],
  // Over 10 lookups through nested includes: 13 counted (see test/domain-check.test.ts).
  "a.deep.dns.test": [txt("v=spf1 include:b.deep.dns.test include:c.deep.dns.test a mx")],
  "b.deep.dns.test": [txt("v=spf1 include:d.deep.dns.test a mx ~all")],
  "c.deep.dns.test": [txt("v=spf1 a mx ~all")],
  "d.deep.dns.test": [txt("v=spf1 ip4:192.0.2.0/24 ~all")],

  // Everything right: Email Routing, and three relays (Cloudflare Email Service, SendGrid, Mailgun on mg.good.dns.test).
  ...wellKept("good.dns.test", ["@"], {
    // The SPF record in two character-strings, as a long one is published.
    "@": [...CLOUDFLARE_MX, txt("google-site-verification=abc123"), { type: "TXT", data: '"v=spf1 include:_spf.mx.cloudflare.net" " ~all"' }],
    "s1._domainkey": [cname("s1.domainkey.u1.wl1.sendgrid.net.")],
    "s2._domainkey": [cname("s2.domainkey.u1.wl1.sendgrid.net.")],
    mg: [txt("v=spf1 include:mailgun.org ~all"), mx("10 mxa.mailgun.org.")],
    "pic._domainkey.mg": [txt(dkim())],
  }),
  ...wellKept("nomx.dns.test", ["@"], { "@": [txt("v=spf1 include:_spf.mx.cloudflare.net ~all")] }),
  ...replace(wellKept("elsewhere.dns.test"), "elsewhere.dns.test", [mx("10 mx.elsewhere-mail.test."), txt("v=spf1 include:_spf.mx.cloudflare.net ~all")]),
  ...replace(wellKept("twospf.dns.test"), "twospf.dns.test", [...CLOUDFLARE_MX, txt("v=spf1 include:_spf.mx.cloudflare.net ~all"), txt("v=spf1 include:sendgrid.net -all")]),
  ...replace(wellKept("deepspf.dns.test"), "deepspf.dns.test", [...CLOUDFLARE_MX, txt("v=spf1 include:_spf.mx.cloudflare.net include:a.deep.dns.test mx a ~all")]),
  // An SMTP relay through Gmail: DKIM is there, the SPF include is not.
  ...wellKept("noinclude.dns.test", [], { "google._domainkey": [txt(dkim())] }),
  ...replace(wellKept("plusall.dns.test"), "plusall.dns.test", [...CLOUDFLARE_MX, txt("v=spf1 include:_spf.mx.cloudflare.net +all")]),
  ...wellKept("nodkim.dns.test", ["cf2024-1._domainkey", "cf-bounce._domainkey"]),
  ...wellKept("wrongdkim.dns.test", [], { "cf-bounce._domainkey": [txt("v=DKIM1; k=rsa; p=")], "cf2024-1._domainkey": [txt("v=DKIM1; k=rsa; p=this is not a key!")] }),
  ...wellKept("nodmarc.dns.test", ["_dmarc"]),
  ...wellKept("pnone.dns.test", [], { _dmarc: [txt("v=DMARC1; p=none")] }),
  ...wellKept("nosts.dns.test", ["_mta-sts", "_smtp._tls"]),
  ...replace(wellKept("nullmx.dns.test"), "nullmx.dns.test", [mx("0 ."), txt("v=spf1 -all")]),
  // Receives nothing (no alias, no relay), and says so.
  ...replace(wellKept("quiet.dns.test"), "quiet.dns.test", [mx("0 ."), txt("v=spf1 include:_spf.mx.cloudflare.net -all")]),
  // Postmark without its return-path CNAME; Resend whose send. subdomain lacks its SPF record.
  ...wellKept("postmark.dns.test"),
  ...wellKept("resend.dns.test", [], { "resend._domainkey": [txt(dkim())], send: [mx("10 feedback-smtp.us-east-1.amazonses.com.")] }),
  // A subdomain without DMARC of its own, under a parent with one.
  ...wellKept("sub.parent.dns.test", ["_dmarc"]),
  "_dmarc.parent.dns.test": [txt("v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@parent.dns.test")],
  ...wellKept("unaligned.dns.test"),
  ...wellKept("mass.dns.test"),
  // servfail.dns.test: SERVFAIL for every name (above); nxdomain.dns.test: in no zone.
};

function exists(name: string): boolean {
  return Object.keys(ZONES).some((n) => n === name || n.endsWith(`.${name}`));
}

/** RFC 1035 5.1 character-strings: quoted, at most 255 bytes each, `"` and `\` escaped. */
function txtData(text: string): string {
  if (text.startsWith('"')) return text; // already written as character-strings
  const chunks = text.match(/[\s\S]{1,255}/g) ?? [""];
  return chunks.map((c) => `"${c.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`).join(" ");
}

type JsonAnswer = { name: string; type: number; TTL: number; data: string };

/** The JSON answer for one question, as Cloudflare's resolver writes it. */
export function answer(qname: string, qtype: TypeName) {
  let name = qname.toLowerCase().replace(/\.$/, "");
  const question = [{ name: `${name}.`, type: TYPES[qtype] }];
  const body = (Status: number, Answer: JsonAnswer[] = []) => ({
    Status,
    TC: false,
    RD: true,
    RA: true,
    AD: false,
    CD: false,
    Question: question,
    ...(Answer.length && { Answer }),
  });
  if (SERVFAIL.some((s) => name === s || name.endsWith(`.${s}`))) return body(2);
  const chain: JsonAnswer[] = [];
  for (let hops = 0; hops < 8; hops++) {
    const target = qtype === "CNAME" ? undefined : ZONES[name]?.find((r) => r.type === "CNAME");
    if (!target) break;
    chain.push({ name: `${name}.`, type: TYPES.CNAME, TTL: 300, data: target.data });
    name = target.data.toLowerCase().replace(/\.$/, "");
  }
  const records = (ZONES[name] ?? []).filter((r) => r.type === qtype);
  const data = records.map((r) => ({ name: `${name}.`, type: TYPES[r.type], TTL: 300, data: r.type === "TXT" ? txtData(r.data) : r.data }));
  return body(exists(name) ? 0 : 3, [...chain, ...data]);
}

export default async function setup(project: TestProject) {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const refuse = (status: number, text: string) => {
      response.writeHead(status, { "Content-Type": "text/plain" });
      response.end(text);
    };
    if (url.pathname !== "/dns-query") return refuse(404, "not found");
    if (request.method !== "GET") return refuse(405, "only GET");
    const json = (request.headers.accept ?? "").includes("application/dns-json") || url.searchParams.get("ct") === "application/dns-json";
    // Without the JSON type the endpoint speaks RFC 8484 wire format, which needs ?dns=.
    if (!json) return refuse(400, "send Accept: application/dns-json (or ?dns= in wire format)");
    const name = url.searchParams.get("name");
    if (!name) return refuse(400, JSON.stringify({ error: "Invalid query name" }));
    const typeParam = (url.searchParams.get("type") ?? "A").toUpperCase();
    const type = (Object.keys(TYPES) as TypeName[]).find((t) => t === typeParam || String(TYPES[t]) === typeParam);
    if (!type) return refuse(400, JSON.stringify({ error: "Invalid query type" }));
    response.writeHead(200, { "Content-Type": "application/dns-json" });
    response.end(JSON.stringify(answer(name, type)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  project.provide("doh", { url: `http://127.0.0.1:${port}/dns-query` });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
