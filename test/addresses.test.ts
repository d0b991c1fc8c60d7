/**
 * Addresses (issue 7, items 1-4): one address string is one mailbox,
 * invalid addresses are refused naming the field, every spelling of an
 * address finds the same contact, and a From goes out as written. The
 * rules are table-tested; what a user sees is tested through the API and a
 * real SMTP server and provider API on loopback.
 */
import PostalMime from "postal-mime";
import { describe, expect, inject, it } from "vitest";
import { normalizeAddress, parseAddressInput } from "../src/mail/address";
import { api, headerValues, ok, onlyRelays, postfixDelivered, runSendJobs, send, setupDomain, smtpRelay, unique } from "./helpers";

const mail = inject("mail");
const TRICK = '"alice@one.example, bob@two.example"@relay.example';

describe("parsing an address a user gives (RFC 5322 addr-spec, RFC 6532 UTF-8)", () => {
  const accepted: [string, { name: string; address: string }][] = [
    ["mary@example.com", { name: "", address: "mary@example.com" }],
    ['"Mary Major" <mary@example.com>', { name: "Mary Major", address: "mary@example.com" }],
    ["Mary Major <mary@example.com>", { name: "Mary Major", address: "mary@example.com" }],
    ["Jane.Doe@Example.COM", { name: "", address: "Jane.Doe@example.com" }],
    ["mary@example.com.", { name: "", address: "mary@example.com" }],
    ["Mary <mary@example.com.>", { name: "Mary", address: "mary@example.com" }],
    [TRICK, { name: "", address: TRICK }],
    ['"john"@example.com', { name: "", address: "john@example.com" }],
    ['Jane <"a b"@example.com>', { name: "Jane", address: '"a b"@example.com' }],
    ["josé@bücher.example", { name: "", address: "josé@xn--bcher-kva.example" }],
    ["x@ｂｕｃｈ.example", { name: "", address: "x@buch.example" }],
    ["=?utf-8?q?J=C3=A9r=C3=B4me?= <j@example.com>", { name: "Jérôme", address: "j@example.com" }],
    ["J. Smith <j@example.com>", { name: "J. Smith", address: "j@example.com" }],
    ['"Mary \\"M\\" Major" <mary@example.com>', { name: 'Mary "M" Major', address: "mary@example.com" }],
    ["O'Brien <o.brien+tag@example.com>", { name: "O'Brien", address: "o.brien+tag@example.com" }],
    ["Mary (work) <mary@example.com>", { name: "Mary", address: "mary@example.com" }],
  ];
  for (const [input, mailbox] of accepted) {
    it(`accepts ${JSON.stringify(input)}`, () => {
      expect(parseAddressInput(input)).toEqual({ ok: true, mailbox });
    });
  }

  const refused: [string, RegExp][] = [
    ["first last@example.com", /space outside quotes/],
    ["a@b.example, c@d.example", /more than one address/],
    ["a . b@example.com", /space outside quotes|not an RFC 5322 address/],
    ["mary", /no @/],
    ["a@b..example", /not an RFC 5322 address|empty label/],
    ["a@.example.com", /not an RFC 5322 address|empty label/],
    ["a@-b.example", /starts or ends with "-"/],
    ["a@b-.example", /starts or ends with "-"/],
    [`a@${"x".repeat(64)}.example`, /longer than 63 octets/],
    [`a@${Array.from({ length: 50 }, () => "abcde").join(".")}.example`, /octets long \(at most 253\)/],
    ["a@localhost", /single label/],
    ["a@[192.0.2.1]", /address literal/],
    ["a@1.2.3.4", /numeric label/],
    ["a\r\nBcc: x@y.example@example.com", /control character/],
    [`${"l".repeat(65)}@example.com`, /longer than 64 octets/],
  ];
  for (const [input, reason] of refused) {
    it(`refuses ${JSON.stringify(input)} and says why`, () => {
      const checked = parseAddressInput(input);
      expect(checked.ok).toBe(false);
      expect(checked.ok ? "" : checked.reason).toMatch(reason);
    });
  }
});

describe("the canonical form every lookup uses", () => {
  const same: [string, string][] = [
    ["jane@example.com", "JANE@EXAMPLE.COM"],
    ["jane@example.com", "jane@example.com."],
    ["jane@example.com", '"jane"@example.com'],
    ["jose@café.example", "jose@cafe\u0301.example"],
    ["jose@café.example", "JOSE@CAFÉ.EXAMPLE."],
    ["jose@café.example", "jose@ｃａｆé.example"],
    ["josé@example.com", "jose\u0301@example.com"],
    ["josé@example.com", "JOSÉ@example.com"],
    ['"a b"@example.com', '"A B"@Example.com'],
  ];
  for (const [a, b] of same) {
    it(`${JSON.stringify(a)} and ${JSON.stringify(b)} are one address`, () => {
      expect(normalizeAddress(a)).not.toBeNull();
      expect(normalizeAddress(b)).toBe(normalizeAddress(a));
    });
  }
  it("keeps a quoted local part quoted: one mailbox stays one mailbox", () => {
    expect(normalizeAddress(TRICK)).toBe(TRICK);
    expect(normalizeAddress("alice@one.example, bob@two.example@relay.example")).toBe(TRICK);
  });
});

describe("one address string is one mailbox (item 1)", () => {
  it("a quoted local part holding a comma and an address stays quoted in the MIME, the envelope (real Postfix) and Python's reading; the suppressed address inside is never mailed", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("postfix:plain", { from_filter: domain })]);
    // bob@two.example is suppressed; the quoted mailbox is another one, which may be mailed.
    await ok("POST", "/v1/contacts", { email: "bob@two.example" }, 201);
    await ok("PATCH", "/v1/contacts/bob@two.example", { suppressed: true });
    expect((await api("POST", "/v1/messages", { from: `mary@${domain}`, to: ["bob@two.example"], subject: "x", text: "x" })).status).toBe(422);

    const answer = await send({ from: `mary@${domain}`, to: [TRICK], subject: `Trick ${unique()}`, text: "Hello" });
    await runSendJobs([answer.id]);
    const message = await ok("GET", `/v1/messages/${answer.id}`);
    expect(message.recipients.map((r: any) => r.address)).toEqual([TRICK]);
    expect(message.status).toBe("sent");

    const raw = await api("GET", `/v1/messages/${answer.id}/raw`);
    expect(raw.body).toMatch(/^To: "alice@one\.example, bob@two\.example"@relay\.example\r$/m);
    const parsed = await PostalMime.parse(raw.body as string);
    expect(parsed.to).toHaveLength(1);

    // Postfix took one RCPT, the quoted mailbox, and delivered one copy to it.
    const [copy, ...more] = await postfixDelivered(TRICK);
    expect(more).toEqual([]);
    expect(headerValues(copy, "X-Original-To")).toEqual([TRICK]);
    expect(copy.python.to).toEqual([{ name: "", address: TRICK }]);
    expect(copy.python.defects).toEqual([]);
    expect(await postfixDelivered("bob@two.example", 0)).toEqual([]);
    expect(await postfixDelivered("alice@one.example", 0)).toEqual([]);
  });

  it("a Postmark request names the quoted mailbox once, quoted, and nobody else", async () => {
    const domain = await setupDomain();
    await onlyRelays([
      {
        name: "postmark",
        type: "postmark",
        from_filter: domain,
        config: { server_token: mail.credentials.postmark, base_url: `${mail.control}/postmark` },
      },
    ]);
    const marker = unique("trick");
    const answer = await send({ from: `mary@${domain}`, to: [`"Alice" <${TRICK}>`], bcc: [`x${marker}@example.org`], subject: marker, text: "Hello" });
    await runSendJobs([answer.id]);
    const [request] = (await (await fetch(`${mail.control}/requests?provider=postmark&contains=${marker}`)).json()) as any[];
    // One To, quoted as written (the fake, like Postmark, may refuse such an address; what matters is what we asked).
    expect(request.body.To).toBe(`"Alice" <${TRICK}>`);
    expect(request.body.Bcc).toBe(`x${marker}@example.org`);
    expect(request.body.Cc).toBeUndefined();
  });

  it("the same trick in from cannot make the From show another domain than the key's", async () => {
    const domain = await setupDomain();
    await onlyRelays([{ name: "cloudflare", type: "cloudflare", from_filter: "relay.example" }]);
    const key = await ok("POST", "/v1/keys", { name: "relay only", from_domains: ["relay.example"] }, 201);
    const sent = await api("POST", "/v1/messages", { from: TRICK, to: [`dest@${domain}`], subject: "x", text: "x" }, key.key);
    expect(sent.status).toBe(202);
    expect(sent.body.from).toBe(TRICK);
    const raw = await api("GET", `/v1/messages/${sent.body.id}/raw`, undefined, key.key);
    const parsed = await PostalMime.parse(raw.body as string);
    // One From, on relay.example: no reader sees alice@one.example as the sender (postal-mime shows the local part unquoted).
    expect(parsed.from).toEqual({ name: "", address: "alice@one.example, bob@two.example@relay.example" });
    expect(raw.body).toMatch(/^From: "alice@one\.example, bob@two\.example"@relay\.example\r$/m);
    // And a plain address on another domain is still refused.
    expect((await api("POST", "/v1/messages", { from: "alice@one.example", to: [`dest@${domain}`], subject: "x", text: "x" }, key.key)).status).toBe(403);
  });
});

describe("invalid addresses are 400, naming the field (item 2)", () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ to: ["first last@example.org"] }, "to.0", /space outside quotes/],
    [{ cc: ["ok@example.org", "a@b..example"] }, "cc.1", /empty label|not an RFC 5322 address/],
    [{ bcc: ["a@-bad.example"] }, "bcc.0", /starts or ends with "-"/],
    [{ reply_to: "a@bad-.example" }, "reply_to", /starts or ends with "-"/],
    [{ from: `a@${"x".repeat(64)}.example` }, "from", /longer than 63 octets/],
    [{ to: [`a@${Array.from({ length: 50 }, () => "abcde").join(".")}.example`] }, "to.0", /at most 253/],
  ];
  for (const [fields, field, reason] of cases) {
    it(`${JSON.stringify(fields)} → 400 naming ${field}`, async () => {
      const domain = await setupDomain();
      await onlyRelays([{ name: "cloudflare", type: "cloudflare" }]);
      const response = await api("POST", "/v1/messages", { from: `mary@${domain}`, to: ["dest@example.org"], subject: "x", text: "x", ...fields });
      expect(response.status).toBe(400);
      expect(response.body.error.message).toContain(`${field}: `);
      expect(response.body.error.message).toMatch(reason);
    });
  }

  it("domains and other addresses across the API are checked the same way", async () => {
    expect((await api("PUT", "/v1/domains/bad-.example", {})).body.error.message).toMatch(/name: .*starts or ends with "-"/);
    expect((await api("POST", "/v1/contacts", { email: "first last@example.org" })).body.error.message).toMatch(/email: .*space outside quotes/);
    expect((await api("POST", "/v1/allowed-senders", { email: "a@b..example" })).status).toBe(400);
  });
});

describe("suppression cannot be dodged by spelling (item 3)", () => {
  it("a trailing dot, case, NFD against NFC and fullwidth forms all find the suppressed contact", async () => {
    const domain = await setupDomain();
    await onlyRelays([{ name: "cloudflare", type: "cloudflare" }]);
    const local = unique("jose");
    await ok("POST", "/v1/contacts", { email: `${local}@café.example` }, 201);
    await ok("PATCH", `/v1/contacts/${encodeURIComponent(`${local}@CAFÉ.example.`)}`, { suppressed: true });
    const spellings = [
      `${local}@café.example`,
      `${local}@café.example.`,
      `${local.toUpperCase()}@Café.Example`,
      `${local}@cafe\u0301.example`,
      `${local}@ｃａｆé.example`,
      `"${local}"@café.example`,
    ];
    for (const to of spellings) {
      const response = await api("POST", "/v1/messages", { from: `mary@${domain}`, to: [to], subject: "x", text: "x" });
      expect({ to, status: response.status }).toEqual({ to, status: 422 });
    }
    // A non-ASCII local part: NFD finds the NFC contact, any case.
    await ok("POST", "/v1/contacts", { email: `${local}é@example.org` }, 201);
    await ok("PATCH", `/v1/contacts/${encodeURIComponent(`${local}é@example.org`)}`, { suppressed: true });
    for (const to of [`${local}e\u0301@example.org`, `${local.toUpperCase()}É@EXAMPLE.ORG`]) {
      expect((await api("POST", "/v1/messages", { from: `mary@${domain}`, to: [to], subject: "x", text: "x" })).status).toBe(422);
    }
  });

  it("contacts, allowed senders and followers are stored and found in the canonical form", async () => {
    const local = unique("ann");
    const contact = await ok("POST", "/v1/contacts", { email: `Ann <${local.toUpperCase()}@Example.ORG.>` }, 201);
    expect(contact.email).toBe(`${local}@example.org`);
    expect((await ok("GET", `/v1/contacts/${encodeURIComponent(`${local}@EXAMPLE.org`)}`)).email).toBe(`${local}@example.org`);
    expect((await api("POST", "/v1/contacts", { email: `${local}@example.org.` })).status).toBe(409);
    const allowed = await ok("POST", "/v1/allowed-senders", { email: `${local.toUpperCase()}@ｅｘａｍｐｌｅ.org` }, 201);
    expect(allowed.email).toBe(`${local}@example.org`);
    const thread = await ok("POST", "/v1/threads", { subject: "x", followers: [{ email: `${local.toUpperCase()}@example.org.` }] }, 201);
    expect(thread.followers.map((f: any) => f.email)).toEqual([`${local}@example.org`]);
  });
});

describe("the From keeps its case (item 4)", () => {
  it("goes out as written; relay matching and key domains ignore case", async () => {
    const domain = await setupDomain();
    const [relay] = await onlyRelays([{ name: "cloudflare", type: "cloudflare", from_filter: domain }]);
    const key = await ok("POST", "/v1/keys", { name: "case", from_domains: [domain.toUpperCase()] }, 201);
    const sent = await api("POST", "/v1/messages", { from: `"Jane" <Jane.Doe@${domain.toUpperCase()}>`, to: ["Dest.Person@Example.org"], subject: "x", text: "x" }, key.key);
    expect(sent.status).toBe(202);
    expect(sent.body.relay.id).toBe(relay.id);
    expect(sent.body.from).toBe(`"Jane" <Jane.Doe@${domain}>`);
    const raw = (await api("GET", `/v1/messages/${sent.body.id}/raw`)).body as string;
    expect(raw).toMatch(new RegExp(`^From: "Jane" <Jane\\.Doe@${domain.replace(/\./g, "\\.")}>\\r$`, "m"));
    expect(raw).toMatch(/^To: Dest\.Person@example\.org\r$/m);
    const message = await ok("GET", `/v1/messages/${sent.body.id}`);
    expect(message.from).toEqual({ name: "Jane", address: `Jane.Doe@${domain}` });
    // Lookups use the canonical form: the recipient row, as suppression and bounces see it.
    expect(message.recipients.map((r: any) => r.address)).toEqual(["dest.person@example.org"]);
  });
});
