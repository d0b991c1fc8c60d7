/**
 * Relay choice and From rewriting through POST /v1/messages, with Odoo's
 * cases (shared/reference/odoo-gateway.md 4.3-4.5, test_ir_mail_server).
 * This file owns its storage: the company domain is the first domain.
 */
import PostalMime from "postal-mime";
import { beforeAll, describe, expect, it } from "vitest";
import { api, ok, onlyRelays, send } from "./helpers";

const COMPANY = "mycompany.example";

beforeAll(async () => {
  await ok("PUT", `/v1/domains/${COMPANY}`, { company_name: "My Company", sequence: 0, catchall: "catchall", bounce: "bounce", default_from: "notifications" }, 201);
  await ok("PUT", "/v1/domains/other.example", { company_name: "Other", sequence: 20 }, 201);
});

async function rawOf(id: string) {
  const raw = await api("GET", `/v1/messages/${id}/raw`);
  expect(raw.status).toBe(200);
  return PostalMime.parse(raw.body as string);
}

const text = { subject: "Hello", text: "Hi", to: ["dest@customer.example"] };

describe("relay choice (Odoo's _find_mail_server)", () => {
  it("prefers a relay matching the exact address over an earlier relay matching only the domain", async () => {
    const [byDomain, byAddress] = await onlyRelays([
      { name: "domain", from_filter: COMPANY, sequence: 1 },
      { name: "address", from_filter: `mary@${COMPANY}`, sequence: 2 },
    ]);
    expect((await send({ ...text, from: `mary@${COMPANY}` })).relay.id).toBe(byAddress.id);
    expect((await send({ ...text, from: `john@${COMPANY}` })).relay.id).toBe(byDomain.id);
  });

  it("reads comma-separated filters, ignoring case and display names", async () => {
    const [first, second] = await onlyRelays([
      { name: "a", from_filter: "a.example, B.Example", sequence: 1 },
      { name: "c", from_filter: `Team@${COMPANY.toUpperCase()} ,c.example`, sequence: 2 },
    ]);
    expect(first.from_filter).toBe("a.example,b.example");
    expect((await send({ ...text, from: '"Bea" <bea@B.EXAMPLE>' })).relay.id).toBe(first.id);
    const answer = await send({ ...text, from: `"The Team" <TEAM@${COMPANY}>` });
    expect(answer.relay.id).toBe(second.id);
    // An address or domain match never rewrites the From, which goes out as written (only matching ignores case).
    expect(answer.from).toBe(`"The Team" <TEAM@${COMPANY}>`);
  });

  it("does not match a subdomain to its parent domain", async () => {
    const [parent, fallback] = await onlyRelays([
      { name: "parent", from_filter: "parent.example", sequence: 1 },
      { name: "fallback", sequence: 2 },
    ]);
    expect((await send({ ...text, from: "x@sub.parent.example" })).relay.id).toBe(fallback.id);
    expect((await send({ ...text, from: "x@parent.example" })).relay.id).toBe(parent.id);
  });

  it("falls back to the notifications address and rewrites the From, keeping the author's name", async () => {
    const [notifications] = await onlyRelays([
      { name: "notifications", from_filter: `notifications@${COMPANY}`, sequence: 5 },
      { name: "elsewhere", from_filter: "unrelated.example", sequence: 1 },
    ]);
    const answer = await send({ ...text, from: '"Admin" <admin@gmail.example>' });
    expect(answer.relay.id).toBe(notifications.id);
    expect(answer.from).toBe(`"Admin" <notifications@${COMPANY}>`);
    // The filter does not allow the bounce address: the envelope is the notifications address.
    expect(answer.envelope_from).toBe(`notifications@${COMPANY}`);

    const noName = await send({ ...text, from: "test@unknown-domain.example" });
    expect(noName.from).toBe(`"test" <notifications@${COMPANY}>`);
    const parsed = await rawOf(noName.id);
    expect(parsed.from).toEqual({ name: "test", address: `notifications@${COMPANY}` });
    // Replies go to the thread: the company's catchall, formatted as Odoo does.
    expect(parsed.replyTo).toEqual([{ name: "My Company Hello", address: `catchall@${COMPANY}` }]);
  });

  it("matches the notifications domain, and then uses the signed VERP bounce address as envelope", async () => {
    const [relay] = await onlyRelays([{ name: "company", from_filter: COMPANY }]);
    const answer = await send({ ...text, from: "someone@gmail.example" });
    expect(answer.relay.id).toBe(relay.id);
    expect(answer.from).toBe(`"someone" <notifications@${COMPANY}>`);
    expect(answer.envelope_from).toMatch(new RegExp(`^bounce\\+[0-9a-z]{26}-[0-9a-f]{10}@${COMPANY.replace(".", "\\.")}$`));
    expect(answer.envelope_from).toContain(answer.id.slice(4).toLowerCase());
    // The envelope sender travels in SMTP only: the delivering server writes Return-Path (RFC 5321 4.4).
    const parsed = await rawOf(answer.id);
    expect(parsed.returnPath).toBeUndefined();
    expect(parsed.headers.filter((h: { key: string }) => h.key === "return-path")).toEqual([]);
  });

  it("uses a relay without filter next, rewriting to the notifications address", async () => {
    const [, open] = await onlyRelays([
      { name: "filtered", from_filter: "unrelated.example", sequence: 1 },
      { name: "open", sequence: 9 },
    ]);
    const answer = await send({ ...text, from: '"Mary" <mary@gmail.example>' });
    expect(answer.relay.id).toBe(open.id);
    expect(answer.from).toBe(`"Mary" <notifications@${COMPANY}>`);
    // No filter allows everything: the envelope is the bounce address.
    expect(answer.envelope_from).toMatch(/^bounce\+/);
  });

  it("ends with the first relay by sequence, and ignores disabled relays", async () => {
    const [later, first] = await onlyRelays([
      { name: "later", from_filter: "a.example", sequence: 7 },
      { name: "first", from_filter: "b.example", sequence: 3 },
      { name: "off", from_filter: "gmail.example", sequence: 1, enabled: false },
    ]);
    const answer = await send({ ...text, from: "mary@gmail.example" });
    expect(answer.relay.id).toBe(first.id);
    expect(later.id).not.toBe(first.id);
  });

  it("sends mass mail through mass relays, and keeps transactional mail off them", async () => {
    const [transactional, mass] = await onlyRelays([
      { name: "transactional", from_filter: COMPANY, sequence: 5 },
      { name: "mass", from_filter: COMPANY, sequence: 1, stream: "mass" },
    ]);
    expect((await send({ ...text, from: `news@${COMPANY}`, stream: "mass" })).relay.id).toBe(mass.id);
    expect((await send({ ...text, from: `news@${COMPANY}` })).relay.id).toBe(transactional.id);
    // With no transactional relay at all, transactional mail may use a mass relay.
    await ok("PATCH", `/v1/relays/${transactional.id}`, { enabled: false });
    expect((await send({ ...text, from: `news@${COMPANY}` })).relay.id).toBe(mass.id);
  });

  it("answers 422 when no relay is enabled", async () => {
    await onlyRelays([]);
    const response = await api("POST", "/v1/messages", { ...text, from: `mary@${COMPANY}` });
    expect(response).toMatchObject({ status: 422, body: { error: { message: expect.stringContaining("no relay is enabled") } } });
  });
});

describe("fixed-sender relays", () => {
  it("send as the fixed account: author's name kept, author in Reply-To, envelope the account", async () => {
    const [relay] = await onlyRelays([
      {
        name: "qq",
        type: "smtp",
        from_filter: "qq.example",
        config: { host: "127.0.0.1", port: 2525, security: "starttls", username: "box@qq.example", password: "x", fixed_sender: "box@qq.example" },
      },
    ]);
    const answer = await send({ ...text, from: '"Li Wei" <li.wei@gmail.example>' });
    expect(answer.relay.id).toBe(relay.id);
    expect(answer.from).toBe('"Li Wei" <box@qq.example>');
    expect(answer.envelope_from).toBe("box@qq.example");
    const parsed = await rawOf(answer.id);
    expect(parsed.replyTo).toEqual([{ name: "Li Wei", address: "li.wei@gmail.example" }]);
  });
});

describe("internationalized names and domains", () => {
  it("encode non-ASCII names (RFC 2047) and put IDN domains in punycode on the envelope", async () => {
    await ok("PUT", "/v1/domains/bücher.example", { company_name: "Bücher", sequence: 30 }, 201);
    const [relay] = await onlyRelays([{ name: "idn", from_filter: "xn--bcher-kva.example" }]);
    const answer = await send({ ...text, from: '"Jörg Ünal" <joerg@bücher.example>' });
    expect(answer.relay.id).toBe(relay.id);
    expect(answer.envelope_from).toMatch(/@xn--bcher-kva\.example$/);
    const raw = (await api("GET", `/v1/messages/${answer.id}/raw`)).body as string;
    expect(raw).toMatch(/^From: =\?utf-8\?b\?[A-Za-z0-9+/=]+\?= <joerg@xn--bcher-kva\.example>\r$/m);
    expect((await rawOf(answer.id)).from).toEqual({ name: "Jörg Ünal", address: "joerg@xn--bcher-kva.example" });
  });
});
