/**
 * One-click unsubscribe (RFC 8058) end to end, through the public entry
 * points: mass mail sent through a mass relay to the loopback SMTP server
 * carries List-Unsubscribe and List-Unsubscribe-Post (read back by Python's
 * parser and postal-mime); its link, POSTed through the Worker's fetch(),
 * and its mailto address, written to through email(), suppress the
 * recipient for mass mail only, once; GET only shows a page; forged tokens
 * change nothing.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import PostalMime from "postal-mime";
import { beforeAll, describe, expect, it } from "vitest";
import deployed from "../src/index";
import { api, deliver, findMessage, messageIdOf, mime, ok, onlyRelays, send, sendAndDeliver, setupDomain, smtpReceived, smtpRelay, unique, type Via } from "./helpers";

let domain: string;
let massRelay: any;
let transactionalRelay: any;

beforeAll(async () => {
  domain = await setupDomain();
  [massRelay, transactionalRelay] = await onlyRelays([smtpRelay("plain", { from_filter: domain, stream: "mass" }), smtpRelay("plain", { from_filter: domain })]);
});

const TOKEN = "[0-9a-z]{26}-[0-9a-f]{20}";
const reEscape = (text: string) => text.replace(/[.+]/g, "\\$&");

/** A request to the Worker's fetch() as a browser or a mail client's one-click would make it: no token, a form body. */
async function request(method: "GET" | "POST", path: string, body?: string | FormData, contentType = "application/x-www-form-urlencoded") {
  const headers: Record<string, string> = typeof body === "string" ? { "Content-Type": contentType } : {};
  const ctx = createExecutionContext();
  const response = await deployed.fetch(new Request(`https://mailgate.test${path}`, { method, headers, body }), env, ctx);
  await waitOnExecutionContext(ctx);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const oneClick = (path: string) => request("POST", path, "List-Unsubscribe=One-Click");

/** Sends mass mail to one new address and reads what the SMTP server received, with both parsers. */
async function massMail(via: Via = {}) {
  const rcpt = `${unique("reader")}@example.org`;
  const { answer, message } = await sendAndDeliver({ from: `"The News" <news@${domain}>`, to: [rcpt], subject: "This week", text: "News.", stream: "mass" }, undefined, via);
  expect(message.status).toBe("sent");
  const [received] = await smtpReceived(rcpt);
  expect(received.python.defects).toEqual([]);
  expect(received.python.long_lines).toBe(0);
  // Python keeps the folding white space before a value folded right after its colon; RFC 2369 2 readers skip it.
  const header = (name: string) => (received.python.headers as [string, string][]).filter(([n]) => n === name).map(([, v]) => v.trim());
  const postal = await PostalMime.parse(received.raw);
  return { rcpt, answer, received, header, postal };
}

/** The link, the mailto address and the token of a mass message, as its List-Unsubscribe field gives them. */
async function unsubscribeOf() {
  const mail = await massMail();
  const [value] = mail.header("List-Unsubscribe");
  const match = new RegExp(`^<https://mailgate\\.test(/unsubscribe/(${TOKEN}))>, <mailto:(unsubscribe\\+\\2@${reEscape(domain)})>$`).exec(value!)!;
  expect(match).not.toBeNull();
  return { ...mail, path: match[1]!, token: match[2]!, address: match[3]! };
}

async function suppressionsOf(email: string) {
  const list = await ok<{ items: any[] }>("GET", "/v1/suppressions?limit=200");
  return list.items.filter((s) => s.email === email);
}

const recipientOf = async (id: string) => (await ok("GET", `/v1/messages/${id}`)).recipients[0];

function expectPage(page: { status: number; headers: Headers; text: string }, status: number) {
  expect(page.status).toBe(status);
  expect(page.headers.get("Content-Type")).toBe("text/html; charset=utf-8");
  expect(page.headers.get("X-Content-Type-Options")).toBe("nosniff");
  expect(page.headers.get("Content-Security-Policy")).toContain("default-src 'none'");
  expect(page.headers.get("Location")).toBeNull();
  expect(page.text).toMatch(/^<!doctype html>/);
  expect(page.text).not.toMatch(/<script|\son\w+=|style=/i);
}

describe("the header fields of mass mail", () => {
  it("carry the link under PUBLIC_URL and the mailto on the From's domain, one-click, folded after the comma, valid for both parsers", async () => {
    const { answer, header, postal, received } = await massMail();
    expect(answer.relay.id).toBe(massRelay.id);
    const [value] = header("List-Unsubscribe");
    const token = new RegExp(`^<https://mailgate\\.test/unsubscribe/(${TOKEN})>, <mailto:unsubscribe\\+\\1@${reEscape(domain)}>$`).exec(value!)?.[1];
    expect(token).toBeDefined();
    expect(header("List-Unsubscribe")).toHaveLength(1);
    expect(header("List-Unsubscribe-Post")).toEqual(["List-Unsubscribe=One-Click"]);
    // postal-mime reads the same values.
    expect(postal.headers.find((h) => h.key === "list-unsubscribe")?.value.replace(/\s+/g, " ")).toBe(value);
    expect(postal.headers.find((h) => h.key === "list-unsubscribe-post")?.value).toBe("List-Unsubscribe=One-Click");
    // As written: folded at its white space only, so each URI stays whole on a line of its own (no white space
    // inside the brackets, RFC 2369 2; a URI longer than 78 characters cannot be folded, and stays within 998).
    const written = /^List-Unsubscribe:.*(?:\r\n[ \t].*)*/m.exec(received.raw)![0];
    expect(written.split("\r\n")).toEqual(["List-Unsubscribe:", ` <https://mailgate.test/unsubscribe/${token}>,`, ` <mailto:unsubscribe+${token}@${domain}>`]);
  });

  it("give only the mailto form, without one-click, when PUBLIC_URL is not set", async () => {
    const { header } = await massMail({ env: { ...env, PUBLIC_URL: undefined } });
    expect(header("List-Unsubscribe")).toEqual([expect.stringMatching(new RegExp(`^<mailto:unsubscribe\\+${TOKEN}@${reEscape(domain)}>$`))]);
    expect(header("List-Unsubscribe-Post")).toEqual([]);
  });

  it("are not on transactional mail unless asked for with list_unsubscribe", async () => {
    const plain = `${unique("plain")}@example.org`;
    const asked = `${unique("asked")}@example.org`;
    const sent = await sendAndDeliver({ from: `news@${domain}`, to: [plain], subject: "Receipt", text: "Thanks." });
    expect(sent.answer.relay.id).toBe(transactionalRelay.id);
    await sendAndDeliver({ from: `news@${domain}`, to: [asked], subject: "Digest", text: "Thanks.", list_unsubscribe: true });
    const [toPlain] = await smtpReceived(plain);
    const [toAsked] = await smtpReceived(asked);
    const names = (received: any) => (received.python.headers as [string, string][]).map(([n]) => n);
    expect(names(toPlain)).not.toContain("List-Unsubscribe");
    expect(names(toPlain)).not.toContain("List-Unsubscribe-Post");
    expect(names(toAsked)).toEqual(expect.arrayContaining(["List-Unsubscribe", "List-Unsubscribe-Post"]));
    expect(toAsked.python.defects).toEqual([]);
  });

  it("are mailgate's on mass mail: a caller's List-Unsubscribe is refused there and kept on transactional mail", async () => {
    const body = { from: `news@${domain}`, to: [`${unique("x")}@example.org`], subject: "Hi", text: "x" };
    const own = { "list-unsubscribe": "<mailto:leave@example.org>" };
    for (const extra of [
      { stream: "mass", headers: own },
      { list_unsubscribe: true, headers: { "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" } },
    ]) {
      const refused = await api("POST", "/v1/messages", { ...body, ...extra });
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(/headers\.list-unsubscribe(-post)?: .* set by mailgate/i);
    }
    expect((await api("POST", "/v1/messages", { ...body, headers: own })).status).toBe(202);
    const optOut = await api("POST", "/v1/messages", { ...body, stream: "mass", list_unsubscribe: false });
    expect(optOut.status).toBe(400);
    expect(optOut.body.error.message).toContain("list_unsubscribe:");
  });

  it("name one recipient: mass mail to several is refused 422 naming `to`, and stores and sends nothing", async () => {
    const [a, b] = [`${unique("a")}@example.org`, `${unique("b")}@example.org`];
    for (const recipients of [{ to: [a, b] }, { to: [a], bcc: [b] }, { cc: [a, b] }]) {
      const refused = await api("POST", "/v1/messages", { from: `news@${domain}`, subject: "Hi", text: "x", stream: "mass", ...recipients });
      expect(refused.status).toBe(422);
      expect(refused.body.error.message).toMatch(/^to: .*exactly one recipient.*got 2/);
    }
    const list = await ok<{ items: any[] }>("GET", `/v1/messages?limit=200`);
    expect(list.items.filter((m) => m.to.some((t: any) => t.address === a) || m.cc.some((t: any) => t.address === a))).toEqual([]);
    // The same address twice is one recipient.
    expect((await api("POST", "/v1/messages", { from: `news@${domain}`, subject: "Hi", text: "x", stream: "mass", to: [a], cc: [a.toUpperCase()] })).status).toBe(202);
  });
});

describe("the link", () => {
  it("GET shows a page whose form makes the one-click POST, and changes nothing", async () => {
    const { path, rcpt, answer } = await unsubscribeOf();
    const page = await request("GET", path);
    expectPage(page, 200);
    expect(page.text).toContain('<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">');
    expect(page.text).toContain(rcpt);
    expect(await suppressionsOf(rcpt)).toEqual([]);
    expect((await recipientOf(answer.id)).status).toBe("sent");
    // Mass mail still reaches the address.
    expect((await send({ from: `news@${domain}`, to: [rcpt], subject: "Next week", text: "More news.", stream: "mass" })).suppressed).toEqual([]);
  });

  it("POST suppresses the recipient for mass mail once; again answers 200 and changes nothing; transactional mail still reaches it", async () => {
    const { path, rcpt, answer } = await unsubscribeOf();
    const first = await oneClick(path);
    expectPage(first, 200);
    expect(first.text).toContain("Unsubscribed");
    const suppressed = await suppressionsOf(rcpt);
    expect(suppressed).toEqual([expect.objectContaining({ email: rcpt, reason: "unsubscribed", stream: "mass" })]);
    const recipient = await recipientOf(answer.id);
    expect(recipient).toMatchObject({ address: rcpt, status: "unsubscribed", source: "list_unsubscribe", last_error: expect.stringContaining("one-click") });

    // A mail client retrying, and the form posted as multipart: the same answer, nothing new.
    const again = await oneClick(path);
    expectPage(again, 200);
    const form = new FormData();
    form.set("List-Unsubscribe", "One-Click");
    expect((await request("POST", path, form)).status).toBe(200);
    expect(await suppressionsOf(rcpt)).toEqual(suppressed);
    expect(await recipientOf(answer.id)).toEqual(recipient);
    const page = await request("GET", path);
    expectPage(page, 200);
    expect(page.text).not.toContain("<form");

    // Mass mail now leaves the address out (the only recipient: refused, nothing queued) ...
    const mass = await api("POST", "/v1/messages", { from: `news@${domain}`, to: [rcpt], subject: "Next week", text: "More news.", stream: "mass" });
    expect(mass.status).toBe(422);
    expect(mass.body.error.message).toContain(rcpt);
    // ... while transactional mail still reaches it.
    const receipt = await sendAndDeliver({ from: `news@${domain}`, to: [rcpt], subject: "Your receipt", text: "Paid." });
    expect(receipt.answer.suppressed).toEqual([]);
    expect(receipt.message.recipients[0]).toMatchObject({ address: rcpt, status: "sent" });
    expect((await smtpReceived(rcpt)).map((m: any) => m.python.subject)).toEqual(["This week", "Your receipt"]);
  });

  it("a forged or foreign token answers 404, a request without the one-click body 400, and nothing changes", async () => {
    const { path, token, rcpt, answer } = await unsubscribeOf();
    const other = await unsubscribeOf();
    const [id, signature] = token.split("-") as [string, string];
    const forged = [
      `/unsubscribe/${id}-${signature.slice(0, -1)}${signature.endsWith("0") ? "1" : "0"}`,
      // Another recipient's valid signature, on this message.
      `/unsubscribe/${id}-${other.token.split("-")[1]}`,
      `/unsubscribe/${other.token.split("-")[0]}-${signature}`,
      `/unsubscribe/${id}`,
      "/unsubscribe/not-a-token",
      `/unsubscribe/${"0".repeat(26)}-${signature}`,
    ];
    for (const link of forged) {
      expectPage(await oneClick(link), 404);
      expectPage(await request("GET", link), 404);
    }
    for (const [body, type] of [
      ["", "application/x-www-form-urlencoded"],
      ["List-Unsubscribe=Yes", "application/x-www-form-urlencoded"],
      ['{"List-Unsubscribe":"One-Click"}', "application/json"],
      ["x".repeat(10_000), "application/x-www-form-urlencoded"],
    ]) {
      expectPage(await request("POST", path, body, type), 400);
    }
    for (const address of [rcpt, other.rcpt]) expect(await suppressionsOf(address)).toEqual([]);
    expect((await recipientOf(answer.id)).status).toBe("sent");
    expect((await recipientOf(other.answer.id)).status).toBe("sent");
  });
});

describe("the mailto address", () => {
  it("mail to it is recorded as an unsubscribe and suppresses the recipient for mass mail, once", async () => {
    const { address, rcpt, answer, path } = await unsubscribeOf();
    // Even written as a reply to the newsletter: the address decides, before replies and aliases.
    const raw = mime({ From: rcpt, To: address, Subject: "Unsubscribe", "In-Reply-To": answer.message_id });
    const result = await deliver({ from: rcpt, to: address, raw });
    expect(result.error).toBeNull();
    expect(result.rejected).toBeNull();
    const record = await findMessage(messageIdOf(raw), address);
    expect(record).toMatchObject({
      status: "accepted",
      has_raw: true,
      thread_id: null,
      decision: { outcome: "accepted", reason: "unsubscribe", original_id: answer.id, recipient: rcpt },
    });
    const suppressed = await suppressionsOf(rcpt);
    expect(suppressed).toEqual([expect.objectContaining({ email: rcpt, reason: "unsubscribed", stream: "mass" })]);
    const recipient = await recipientOf(answer.id);
    expect(recipient).toMatchObject({ status: "unsubscribed", source: "list_unsubscribe", last_error: "mail to the List-Unsubscribe address" });

    // Mailed again (another message), and the link used too: each recorded or answered, nothing changes.
    const raw2 = mime({ From: rcpt, To: address, Subject: "Unsubscribe" });
    expect((await deliver({ from: rcpt, to: address.toUpperCase(), raw: raw2 })).rejected).toBeNull();
    expect((await findMessage(messageIdOf(raw2))).decision.reason).toBe("unsubscribe");
    expect((await oneClick(path)).status).toBe(200);
    expect(await suppressionsOf(rcpt)).toEqual(suppressed);
    expect(await recipientOf(answer.id)).toEqual(recipient);
  });

  it("with a forged token is refused like unknown mail (no_route) and changes nothing", async () => {
    const { address, rcpt, answer, token } = await unsubscribeOf();
    const forgedAddress = address.replace(token, `${token.slice(0, -1)}${token.endsWith("0") ? "1" : "0"}`);
    const unknown = `nobody-${unique()}@${domain}`;
    for (const to of [forgedAddress, `unsubscribe+junk@${domain}`]) {
      const raw = mime({ From: rcpt, To: to, Subject: "Unsubscribe" });
      const result = await deliver({ from: rcpt, to, raw });
      expect(result.error).toBeNull();
      expect(result.rejected).toBe(`There is no mailbox or alias for ${to} here. Please check the address.`);
      expect((await findMessage(messageIdOf(raw))).decision).toEqual({ outcome: "refused", reason: "no_route", recipient: to });
    }
    const unknownResult = await deliver({ from: rcpt, to: unknown, raw: mime({ From: rcpt, To: unknown }) });
    expect(unknownResult.rejected).toBe(`There is no mailbox or alias for ${unknown} here. Please check the address.`);
    expect(await suppressionsOf(rcpt)).toEqual([]);
    expect((await recipientOf(answer.id)).status).toBe("sent");
  });
});
