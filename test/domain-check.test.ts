/**
 * `GET /v1/domains/{name}/check` against a local DNS-over-HTTPS resolver
 * (test/node/doh.ts) serving a well-kept zone and zones broken one way each.
 * Every case sets the domain up through the API (aliases, relays), runs the
 * check with `DOH_URL` pointing at the local resolver, and compares the
 * items with the table: the items listed have that status and a reason
 * matching; every other item passes.
 */
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { Env } from "../src/env";
import { ADMIN_TOKEN, api, ok } from "./helpers";

const doh = inject("doh");

type Status = "pass" | "warn" | "fail";

interface Case {
  zone: string;
  /** Aliases on the zone (name, destinations, ...). */
  aliases?: Record<string, unknown>[];
  /** Relays (their filter names the zone unless given); names must be unique in the case: item ids use them. */
  relays?: Record<string, unknown>[];
  /** Bindings to change for the check. */
  env?: Partial<Env>;
  /** Item id (relay ids written as the relay's name) → status and what the reason says; unlisted items pass. */
  expect: Record<string, [Status, RegExp?]>;
  /** Extra fields expected on items. */
  fields?: Record<string, Record<string, unknown>>;
}

const store = [{ name: "sales" }];
const cloudflare = { name: "cf", type: "cloudflare" };

const CASES: Case[] = [
  {
    zone: "good.dns.test",
    aliases: [{ name: "sales", destinations: [{ type: "store" }, { type: "forward", to: "team@inbox.dns.test" }] }],
    relays: [
      cloudflare,
      { name: "sg", type: "sendgrid", config: { api_key: "SG.test" } },
      { name: "mg", type: "mailgun", config: { domain: "mg.good.dns.test", api_key: "key-test" } },
    ],
    expect: {},
    fields: { spf: { lookups: 1, void_lookups: 0 }, dmarc: { policy: "reject" } },
  },
  {
    zone: "nomx.dns.test",
    aliases: store,
    relays: [cloudflare],
    expect: { mx: ["fail", /has no MX record/], catchall: ["fail", /does not reach Email Routing/], bounce: ["fail"] },
  },
  {
    zone: "elsewhere.dns.test",
    aliases: store,
    relays: [cloudflare],
    expect: { mx: ["fail", /MX points at mx\.elsewhere-mail\.test, not Cloudflare Email Routing/], catchall: ["fail"], bounce: ["fail"] },
  },
  { zone: "twospf.dns.test", aliases: store, relays: [cloudflare], expect: { spf: ["fail", /has 2 SPF records.*permerror/] } },
  {
    zone: "deepspf.dns.test",
    aliases: store,
    relays: [cloudflare],
    expect: { spf: ["fail", /more than 10 DNS lookups.*\(13 DNS lookups of 10\)/] },
    fields: { spf: { lookups: 13 } },
  },
  {
    zone: "noinclude.dns.test",
    aliases: store,
    relays: [{ name: "gmail", type: "smtp", config: { host: "smtp.gmail.com", port: 587, security: "starttls", username: "me@noinclude.dns.test", password: "pw" } }],
    expect: { spf: ["fail", /lacks include:_spf\.google\.com, which gmail \(Google Workspace\) needs/] },
  },
  { zone: "plusall.dns.test", aliases: store, relays: [cloudflare], expect: { spf: ["fail", /\+all lets every server/] } },
  {
    zone: "nodkim.dns.test",
    aliases: store,
    relays: [cloudflare],
    expect: { dkim_routing: ["warn", /cf2024-1\._domainkey\.nodkim\.dns\.test is missing/], "dkim:cf": ["fail", /cf-bounce\._domainkey\.nodkim\.dns\.test, which is missing/] },
  },
  {
    zone: "wrongdkim.dns.test",
    aliases: store,
    relays: [cloudflare],
    expect: { dkim_routing: ["fail", /not a usable DKIM key: p= is not base64/], "dkim:cf": ["fail", /the key was revoked/] },
  },
  {
    zone: "nodmarc.dns.test",
    aliases: [
      {
        name: "sales",
        destinations: [
          { type: "forward", to: "a@gone.dns.test" },
          { type: "forward", to: "b@nomail.dns.test" },
          { type: "forward", to: "c@arecord.dns.test" },
        ],
      },
    ],
    relays: [cloudflare],
    expect: {
      dmarc: ["fail", /has no DMARC record/],
      "forward:a@gone.dns.test": ["fail", /does not exist \(NXDOMAIN\)/],
      "forward:b@nomail.dns.test": ["fail", /null MX/],
      "forward:c@arecord.dns.test": ["warn", /no MX, only an address record/],
    },
    fields: { dmarc: { policy: null } },
  },
  {
    zone: "pnone.dns.test",
    aliases: store,
    relays: [cloudflare],
    expect: { dmarc: ["warn", /p=none, no reports; p=none only monitors.*no rua/] },
    fields: { dmarc: { policy: "none", records: [{ type: "TXT", name: "_dmarc.pnone.dns.test", value: "v=DMARC1; p=none; rua=mailto:dmarc-reports@pnone.dns.test" }] } },
  },
  { zone: "nosts.dns.test", aliases: store, relays: [cloudflare], expect: { mta_sts: ["warn", /no MTA-STS record/], tls_rpt: ["warn", /no TLS-RPT record/] } },
  {
    zone: "nullmx.dns.test",
    aliases: store,
    relays: [cloudflare],
    expect: {
      mx: ["fail", /null MX \(RFC 7505: it accepts no mail\), but mailgate receives for it/],
      spf: ["warn", /lacks include:_spf\.mx\.cloudflare\.net/],
      catchall: ["fail"],
      bounce: ["fail"],
    },
  },
  // No alias and no relay: it receives nothing, and its null MX says so.
  { zone: "quiet.dns.test", expect: { mx: ["pass", /publishes a null MX/], relays: ["warn", /no relay is enabled/] } },
  {
    zone: "servfail.dns.test",
    aliases: store,
    relays: [cloudflare],
    expect: {
      mx: ["fail", /lookup of MX servfail\.dns\.test failed: SERVFAIL/],
      spf: ["fail", /SERVFAIL/],
      dkim_routing: ["fail", /SERVFAIL/],
      "dkim:cf": ["fail", /SERVFAIL/],
      "return_path:cf": ["fail", /SERVFAIL/],
      dmarc: ["fail", /SERVFAIL/],
      mta_sts: ["fail", /SERVFAIL/],
      tls_rpt: ["fail", /SERVFAIL/],
      catchall: ["fail"],
      bounce: ["fail"],
    },
  },
  {
    zone: "nxdomain.dns.test",
    aliases: store,
    expect: {
      mx: ["fail", /does not exist in DNS \(NXDOMAIN\)/],
      spf: ["fail", /has no SPF record/],
      dkim_routing: ["warn"],
      dmarc: ["fail"],
      mta_sts: ["warn"],
      tls_rpt: ["warn"],
      catchall: ["fail"],
      bounce: ["fail"],
      relays: ["warn", /no relay is enabled/],
    },
  },
  {
    zone: "postmark.dns.test",
    aliases: store,
    relays: [{ name: "pm", type: "postmark", config: { server_token: "pm-test" } }],
    expect: {
      "dkim:pm": ["warn", /Postmark signs with a selector made for the account/],
      "return_path:pm": ["warn", /pm-bounces\.postmark\.dns\.test is not a CNAME to pm\.mtasv\.net/],
    },
  },
  {
    zone: "resend.dns.test",
    aliases: store,
    relays: [{ name: "rs", type: "resend", config: { api_key: "re_test" } }],
    expect: { "return_path:rs": ["fail", /send\.resend\.dns\.test has no SPF record/] },
    fields: { "return_path:rs": { records: [{ type: "TXT", name: "send.resend.dns.test", value: "v=spf1 include:amazonses.com ~all" }] } },
  },
  {
    zone: "sub.parent.dns.test",
    aliases: store,
    relays: [cloudflare],
    expect: {},
    fields: { dmarc: { policy: "quarantine", reason: expect.stringMatching(/_dmarc\.parent\.dns\.test \(inherited/) } },
  },
  {
    zone: "unaligned.dns.test",
    aliases: store,
    relays: [
      { name: "fixed", type: "smtp", config: { host: "127.0.0.1", port: 2525, security: "none", fixed_sender: "account@provider.test" } },
      { ...cloudflare, enabled: false },
    ],
    expect: {
      "dkim:fixed": ["warn", /does not know which DKIM selector and SPF include/],
      "relay:fixed": ["fail", /as From account@provider\.test: DMARC checks provider\.test/],
      "relay:cf": ["warn", /disabled/],
    },
  },
  {
    zone: "mass.dns.test",
    aliases: [{ name: "hooks", destinations: [{ type: "webhook", url: "http://127.0.0.1:9/hook" }] }],
    relays: [{ ...cloudflare, stream: "mass" }],
    env: { PUBLIC_URL: undefined },
    expect: { public_url: ["fail", /one-click unsubscribe.*\(it is not set\)/] },
  },
];

/** The items with relay ids written as relay names, so a table can name them. */
function byId(items: any[], relays: any[]): Record<string, any> {
  const named = (id: string) => relays.reduce((text: string, r: any) => text.replace(r.id, r.name), id);
  return Object.fromEntries(items.map((item) => [named(item.id), item]));
}

/** The case's domain and aliases (kept from an earlier test of the file when there), and only its relays enabled. */
async function setUp(c: Case): Promise<any[]> {
  const domain = await api("PUT", `/v1/domains/${c.zone}`, { company_name: "Acme" });
  expect([200, 201]).toContain(domain.status);
  for (const alias of c.aliases ?? []) {
    const created = await api("POST", "/v1/aliases", { domain: c.zone, contact: "everyone", destinations: [{ type: "store" }], ...alias });
    expect([201, 409]).toContain(created.status);
  }
  // Deleted, not disabled: a disabled relay whose filter names the zone is an item of its own.
  for (const relay of (await ok<{ items: any[] }>("GET", "/v1/relays")).items) await ok("DELETE", `/v1/relays/${relay.id}`, undefined, 204);
  const created = [];
  for (const relay of c.relays ?? []) created.push(await ok("POST", "/v1/relays", { from_filter: c.zone, ...relay }, 201));
  return created;
}

function check(zone: string, bindings: Partial<Env> = {}) {
  return api("GET", `/v1/domains/${zone}/check`, undefined, ADMIN_TOKEN, {}, { env: { ...env, DOH_URL: doh.url, ...bindings } as Env });
}

describe("the domain check against fixed zones", () => {
  it.each(CASES)("$zone", async (c) => {
    const relays = await setUp(c);
    const response = await check(c.zone, c.env);
    expect(response.status).toBe(200);
    const items = byId(response.body.items, relays);
    const seen = Object.fromEntries(Object.entries(items).map(([id, item]) => [id, item.status]));
    const wanted = Object.fromEntries(Object.keys(items).map((id) => [id, c.expect[id]?.[0] ?? "pass"]));
    expect(seen).toEqual(wanted);
    for (const id of Object.keys(c.expect)) expect(items[id], `item ${id}`).toBeDefined();
    for (const [id, [, reason]] of Object.entries(c.expect)) if (reason) expect(items[id].reason, id).toMatch(reason);
    for (const [id, fields] of Object.entries(c.fields ?? {})) expect(items[id], id).toMatchObject(fields);
    // Only what is not passing says what to publish.
    for (const item of Object.values(items)) if (item.status === "pass") expect(item.records, item.id).toBeUndefined();
    const { summary } = response.body;
    expect(summary.pass + summary.warn + summary.fail).toBe(response.body.items.length);
    expect(response.body.domain).toBe(c.zone);
  });

  it("lists every DNS item of a well-kept zone and what it found", async () => {
    const relays = await setUp(CASES[0]!);
    const { body } = await check("good.dns.test");
    expect(Object.keys(byId(body.items, relays))).toEqual([
      "mx",
      "spf",
      "dkim_routing",
      "dkim:cf",
      "dkim:sg",
      "dkim:mg",
      "return_path:cf",
      "return_path:mg",
      "dmarc",
      "mta_sts",
      "tls_rpt",
      "catchall",
      "bounce",
      "relays",
      "relay:cf",
      "relay:sg",
      "relay:mg",
      "forward:team@inbox.dns.test",
      "public_url",
    ]);
    const items = byId(body.items, relays);
    expect(items["dkim:sg"].reason).toMatch(/through s1\.domainkey\.u1\.wl1\.sendgrid\.net → s1\.keys\.sendgrid\.net/);
    expect(items.spf.reason).toBe("one SPF record, 1 DNS lookup of 10, ending in ~all");
    expect(items["relay:mg"]).toMatchObject({ group: "mailgate", relay: { name: "mg", type: "mailgun" } });
    expect(body.summary).toEqual({ pass: 19, warn: 0, fail: 0 });
  });

  it("says the lookups failed when the resolver fails, and answers 200", async () => {
    await setUp(CASES[0]!);
    // The local resolver answers 404 off its path (a closed port works the same, with workerd logging each refused connection).
    const { status, body } = await check("good.dns.test", { DOH_URL: doh.url.replace("/dns-query", "/elsewhere") });
    expect(status).toBe(200);
    for (const item of body.items.filter((i: any) => i.group === "dns")) {
      expect(item.status, item.id).toBe("warn");
      expect(item.reason, item.id).toMatch(/failed: the resolver answered HTTP 404/);
    }
    expect(body.items.find((i: any) => i.id === "catchall").status).toBe("pass");
  });

  it("answers 404 for a domain mailgate does not serve, and 401 without the token", async () => {
    expect((await check("unknown.dns.test")).status).toBe(404);
    expect((await check("unknown.dns.test")).body.error.message).toBe("domain unknown.dns.test not found");
    expect((await api("GET", "/v1/domains/good.dns.test/check", undefined, null)).status).toBe(401);
  });

  it("is documented in the OpenAPI document", async () => {
    const doc = (await api("GET", "/v1/openapi.json", undefined, null)).body;
    expect(doc.paths["/v1/domains/{name}/check"].get.responses["200"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/DomainCheck" });
    expect(Object.keys(doc.components.schemas.DomainCheckItem.properties)).toEqual(
      expect.arrayContaining(["id", "group", "status", "reason", "records", "lookups", "void_lookups", "policy", "relay", "address", "aliases"]),
    );
  });

  it("the local resolver refuses what Cloudflare's refuses, and answers its JSON format", async () => {
    expect((await fetch(`${doh.url}?name=good.dns.test&type=MX`)).status).toBe(400);
    expect((await fetch(`${doh.url}?type=MX`, { headers: { Accept: "application/dns-json" } })).status).toBe(400);
    const answer = await (await fetch(`${doh.url}?name=s1._domainkey.good.dns.test&type=TXT`, { headers: { Accept: "application/dns-json" } })).json<any>();
    expect(answer).toMatchObject({ Status: 0, TC: false, Question: [{ name: "s1._domainkey.good.dns.test.", type: 16 }] });
    expect(answer.Answer.map((a: any) => a.type)).toEqual([5, 5, 16]);
    expect(answer.Answer[2].data).toMatch(/^"v=DKIM1; k=rsa; p=[^"]+" "[^"]+"$/);
    const missing = await (await fetch(`${doh.url}?name=nxdomain.dns.test&type=MX&ct=application/dns-json`)).json<any>();
    expect(missing.Status).toBe(3);
  });
});
