/**
 * The send API: API keys, validation (nothing is queued for a refused
 * request), idempotency, suppression, threads, and what a reply to sent
 * mail does on the way back in.
 */
import PostalMime from "postal-mime";
import { beforeAll, describe, expect, it } from "vitest";
import { api, createAlias, deliver, findMessage, messageIdOf, messagesFor, mime, ok, onlyRelays, send, setupDomain, smtpOutcome, unique } from "./helpers";

let domain: string;
const base = () => ({ from: `mary@${domain}`, to: ["dest@customer.example"], subject: "Hello", text: "Hi" });

beforeAll(async () => {
  domain = await setupDomain({ company_name: "Acme" });
  await onlyRelays([{ name: "cloudflare", type: "cloudflare", from_filter: domain }]);
});

async function outboundCount(): Promise<number> {
  return (await ok("GET", "/v1/messages?direction=out&limit=200")).items.length;
}

describe("API keys", () => {
  it("are shown once, stored hashed, and send", async () => {
    const created = await ok("POST", "/v1/keys", { name: "shop" }, 201);
    expect(created.key).toMatch(/^mgk_[A-Za-z0-9_-]{43}$/);
    expect(created.prefix).toBe(created.key.slice(0, 12));
    const listed = await ok("GET", "/v1/keys");
    expect(JSON.stringify(listed)).not.toContain(created.key);
    expect(listed.items.map((k: any) => k.id)).toContain(created.id);

    const sent = await api("POST", "/v1/messages", base(), created.key);
    expect(sent.status).toBe(202);
    // A key reads its own messages, and no one else's.
    expect((await api("GET", `/v1/messages/${sent.body.id}`, undefined, created.key)).status).toBe(200);
    expect((await api("GET", `/v1/messages/${sent.body.id}/raw`, undefined, created.key)).status).toBe(200);
    const other = await ok("POST", "/v1/keys", { name: "other" }, 201);
    expect((await api("GET", `/v1/messages/${sent.body.id}`, undefined, other.key)).status).toBe(404);
    const own = await api("GET", "/v1/messages", undefined, created.key);
    expect(own.body.items.map((m: any) => m.id)).toEqual([sent.body.id]);
  });

  it("may be limited to From domains, may not use admin routes, and can be revoked", async () => {
    const limited = await ok("POST", "/v1/keys", { name: "limited", from_domains: ["Other.Example"] }, 201);
    expect(limited.from_domains).toEqual(["other.example"]);
    const refused = await api("POST", "/v1/messages", base(), limited.key);
    expect(refused).toMatchObject({ status: 403, body: { error: { code: "forbidden", message: expect.stringContaining(`may not send from ${domain}`) } } });
    expect((await api("GET", "/v1/domains", undefined, limited.key)).status).toBe(403);
    expect((await api("POST", "/v1/relays", { name: "x", type: "cloudflare" }, limited.key)).status).toBe(403);

    await ok("DELETE", `/v1/keys/${limited.id}`, undefined, 204);
    expect((await api("POST", "/v1/messages", base(), limited.key)).status).toBe(401);
  });
});

describe("validation: a refused request queues nothing", () => {
  const cases: [string, Record<string, unknown>, number, string][] = [
    ["missing from", { from: undefined }, 400, "from"],
    ["invalid address", { to: ["not an address"] }, 400, "is not one e-mail address"],
    ["no recipient", { to: [] }, 400, "at least one recipient"],
    [
      "more than 50 recipients",
      { to: Array.from({ length: 30 }, (_, i) => `a${i}@x.example`), cc: Array.from({ length: 21 }, (_, i) => `c${i}@x.example`) },
      400,
      "at most 50 recipients",
    ],
    ["header injection in the subject", { subject: "Hi\r\nBcc: victim@x.example" }, 400, "header injection"],
    ["header injection in a header value", { headers: { "X-Note": "a\nBcc: victim@x.example" } }, 400, "header injection"],
    ["a header that belongs to a field", { headers: { From: "evil@x.example" } }, 400, "From is set by mailgate or by a field"],
    ["Message-ID as a header", { headers: { "Message-ID": "<x@y>" } }, 400, "Message-ID is set by mailgate"],
    ["an attachment that is not base64", { attachments: [{ filename: "a.txt", content: "not base64!" }] }, 400, "must be base64"],
    ["no body", { text: undefined }, 400, "text or html is needed"],
    ["an unknown field", { priority: "high" }, 400, "priority"],
    ["an unknown thread", { thread_id: "thr_missing" }, 422, "thread thr_missing does not exist"],
  ];
  for (const [what, change, status, message] of cases) {
    it(`${what}: ${status}`, async () => {
      const before = await outboundCount();
      const response = await api("POST", "/v1/messages", { ...base(), ...change });
      expect(response.status).toBe(status);
      expect(response.body.error.message).toContain(message);
      expect(await outboundCount()).toBe(before);
    });
  }

  it("a message larger than the relay takes: 413", async () => {
    const before = await outboundCount();
    const big = btoa("x".repeat(6 * 1024 * 1024));
    const response = await api("POST", "/v1/messages", { ...base(), attachments: [{ filename: "big.bin", content: big }] });
    expect(response).toMatchObject({ status: 413, body: { error: { code: "payload_too_large", message: expect.stringContaining('relay "cloudflare" takes at most 5242880') } } });
    expect(await outboundCount()).toBe(before);
  });

  it("suppressed recipients are left out and named in the answer; a send to nobody else is 422", async () => {
    const suppressed = `${unique("gone")}@customer.example`;
    await ok("POST", "/v1/contacts", { email: suppressed }, 201);
    await ok("PATCH", `/v1/contacts/${suppressed}`, { suppressed: true });
    const mixed = await api("POST", "/v1/messages", { ...base(), to: ["fine@customer.example"], cc: [suppressed.toUpperCase()] });
    expect(mixed).toMatchObject({ status: 202, body: { suppressed: [suppressed] } });
    const queued = await ok("GET", `/v1/messages/${mixed.body.id}`);
    expect(queued.recipients.map((r: any) => r.address)).toEqual(["fine@customer.example"]);
    expect(queued.cc).toEqual([]);
    const before = await outboundCount();
    const none = await api("POST", "/v1/messages", { ...base(), to: [suppressed] });
    expect(none).toMatchObject({ status: 422, body: { error: { message: expect.stringContaining(suppressed) } } });
    expect(await outboundCount()).toBe(before);
    await ok("PATCH", `/v1/contacts/${suppressed}`, { suppressed: false });
    expect((await api("POST", "/v1/messages", { ...base(), to: [suppressed] })).status).toBe(202);
  });
});

describe("idempotency", () => {
  it("the same key and body answers the first answer and queues nothing more; another body is 409", async () => {
    const key = unique("idem");
    const body = { ...base(), subject: `Idempotent ${key}` };
    const post = (b: unknown) => api("POST", "/v1/messages", b, undefined, { "Idempotency-Key": key });
    const first = await post(body);
    expect(first.status).toBe(202);
    const before = await outboundCount();
    const again = await post(body);
    expect(again.status).toBe(202);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
    expect(await outboundCount()).toBe(before);
    const different = await post({ ...body, text: "changed" });
    expect(different).toMatchObject({ status: 409, body: { error: { code: "conflict" } } });
  });
});

describe("threads", () => {
  it("a send opens a thread followed by its people; a send on that thread continues it", async () => {
    const first = await send({ ...base(), to: ['"Carl" <carl@customer.example>'], subject: "Project plan" });
    const thread = await ok("GET", `/v1/threads/${first.thread_id}`);
    expect(thread.subject).toBe("Project plan");
    expect(thread.followers.map((f: any) => f.email).sort()).toEqual(["carl@customer.example", `mary@${domain}`]);

    const second = await send({ ...base(), to: ["carl@customer.example"], subject: "Re: Project plan", thread_id: first.thread_id });
    expect(second.thread_id).toBe(first.thread_id);
    const raw = await api("GET", `/v1/messages/${second.id}/raw`);
    const parsed = await PostalMime.parse(raw.body as string);
    expect(parsed.inReplyTo).toBe(first.message_id);
    expect(parsed.references).toBe(first.message_id);
    expect(parsed.replyTo).toEqual([{ name: "Acme Project plan", address: `catchall@${domain}` }]);
    expect(parsed.headers.find((h) => h.key === "x-mailgate-message-id")?.value).toBe(second.message_id);
    expect(second.message_id).toMatch(new RegExp(`^<msg_[0-9a-z]{26}@${domain.replace(/\./g, "\\.")}>$`));
  });

  it("Reply-To defaults to the thread's alias; the caller's reply_to wins", async () => {
    const alias = await createAlias({ name: unique("support"), domain });
    const thread = await ok("POST", "/v1/threads", { subject: "Ticket 42", alias_id: alias.id }, 201);
    const viaAlias = await send({ ...base(), thread_id: thread.id });
    const parsed = await PostalMime.parse((await api("GET", `/v1/messages/${viaAlias.id}/raw`)).body as string);
    expect(parsed.replyTo).toEqual([{ name: "Acme Ticket 42", address: alias.address }]);
    const own = await send({ ...base(), reply_to: '"Desk" <desk@customer.example>' });
    const ownParsed = await PostalMime.parse((await api("GET", `/v1/messages/${own.id}/raw`)).body as string);
    expect(ownParsed.replyTo).toEqual([{ name: "Desk", address: "desk@customer.example" }]);
  });

  it("a reply to sent mail comes back into its thread; a copy of our own mail is dropped", async () => {
    const sent = await send({ ...base(), subject: "Quote" });
    const reply = mime({ From: "dest@customer.example", To: `catchall@${domain}`, Subject: "Re: Quote", "In-Reply-To": sent.message_id });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw: reply }))).toBe("accepted");
    expect((await findMessage(messageIdOf(reply))).thread_id).toBe(sent.thread_id);
    const inThread = await ok("GET", `/v1/threads/${sent.thread_id}/messages`);
    expect(inThread.items.map((m: any) => m.direction)).toEqual(["in", "out"]);

    // The same message handed back to us (a provider rewrote its Message-ID): our own header tells.
    const copy = mime({ "Message-ID": "<rewritten@provider.example>", "X-Mailgate-Message-Id": sent.message_id, From: `mary@${domain}`, To: `catchall@${domain}` });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw: copy }))).toBe("accepted");
    expect((await messagesFor("<rewritten@provider.example>"))[0].decision).toMatchObject({ outcome: "dropped", reason: "duplicate", duplicate_of: sent.id });
  });
});
