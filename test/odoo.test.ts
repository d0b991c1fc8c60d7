/**
 * Odoo destinations against a local Odoo external API (test/node/odoo.ts,
 * test/node/odoo_xmlrpc.py): Python's own xmlrpc reads each call as Odoo
 * does, answers with Odoo's signatures and faults, records the message's
 * bytes and the type they arrived as, and can be made to fail.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import type { Env } from "../src/env";
import { api, clockedWorker, createAlias, deliver, findMessage, messageIdOf, mime, ok, queueSpy, runJobs, setupDomain, unique } from "./helpers";

const odoo = inject("odoo");

interface Received {
  raw: string;
  type: string;
  model: string | false;
  custom_values: unknown;
  save_original: boolean;
  strip_attachments: boolean;
  thread_id: number | null;
  message_id: string;
  bounce: { original_message_id: string | null; recipient: string | null } | null;
  result: number | false | null;
}

async function control(path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${odoo.control}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
  return response.json();
}

/** What the local Odoo got for this Message-ID, oldest first. */
async function receivedBy(messageId: string): Promise<Received[]> {
  return ((await control("/received")) as Received[]).filter((r) => r.message_id === messageId);
}

/**
 * Bindings whose queue takes no job: the tests run each delivery themselves
 * (runJobs), so the local queue's own consumer never runs one at the same
 * time (it would, a second after the mail arrives, while a slow Odoo holds
 * the first run).
 */
const quiet = queueSpy().env;

const setMode = (mode: string, extra: Record<string, unknown> = {}) => control("/mode", { mode, ...extra });

afterEach(async () => {
  await setMode("ok");
  vi.restoreAllMocks();
});

function odooDestination(fields: Record<string, unknown> = {}) {
  return { type: "odoo", url: odoo.url, db: odoo.db, login: odoo.login, api_key: odoo.api_key, ...fields };
}

async function odooAlias(name = "sales", fields: Record<string, unknown> = {}) {
  const domain = await setupDomain();
  const alias = await createAlias({ name, domain, destinations: [odooDestination(fields)] });
  return { domain, alias, address: `${name}@${domain}` };
}

const odooDeliveries = async (messageId: string, rcpt?: string) => (await findMessage(messageId, rcpt)).deliveries.filter((d: any) => d.type === "odoo");

/** Runs the message's pending Odoo deliveries when they are due, on `at`'s clock. */
async function runOdoo(messageId: string, at = clockedWorker(), bindings: Env = quiet) {
  const pending = (await odooDeliveries(messageId)).filter((d: any) => d.status === "pending");
  const due = Math.max(...pending.map((d: any) => (d.next_attempt_at ? Date.parse(d.next_attempt_at) : 0)));
  if (due > at.clock.now()) at.clock.advance(due - at.clock.now());
  return runJobs(
    "deliver",
    pending.map((d: any) => d.id),
    { worker: at.worker, env: bindings },
  );
}

const bytesOf = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

describe("odoo destinations", () => {
  it("hands the raw message to message_process as Binary, byte for byte, and shows the record Odoo made", async () => {
    const { address, alias } = await odooAlias();
    // CRLF line ends, a lone LF and 8-bit UTF-8 in the body: all must reach Odoo unchanged.
    const raw = mime(
      { From: '"Mary Major" <mary@example.org>', To: address, Subject: "=?UTF-8?Q?Devis_r=C3=A9vis=C3=A9?=", "Content-Type": "text/plain; charset=utf-8" },
      "Bonjour,\r\n\r\nVoici le devis révisé.\nligne\r\n-- \r\nMary\r\n",
    );
    const messageId = messageIdOf(raw);
    expect((await deliver({ from: "mary@example.org", to: address, raw }, { env: quiet })).rejected).toBeNull();
    const [pending] = await odooDeliveries(messageId);
    expect(pending).toMatchObject({ status: "pending", target: `${odoo.url}#${odoo.db}`, alias_id: alias.id, record_id: null });

    await runOdoo(messageId);
    const [call] = await receivedBy(messageId);
    expect(call).toMatchObject({ type: "Binary", model: false, custom_values: null, save_original: false, strip_attachments: false, thread_id: null });
    expect(bytesOf(call!.raw)).toEqual(new TextEncoder().encode(raw));
    expect(typeof call!.result).toBe("number");

    const stored = await findMessage(messageId);
    const [delivery] = stored.deliveries.filter((d: any) => d.type === "odoo");
    expect(delivery).toMatchObject({ status: "delivered", attempts: 1, record_id: call!.result, last_error: null, history: [{ result: "delivered" }] });
    expect(stored.events).toContainEqual(
      expect.objectContaining({ type: "odoo_delivered", detail: expect.objectContaining({ delivery_id: delivery.id, record_id: call!.result }) }),
    );
  });

  it("passes model, thread_id, save_original and strip_attachments as message_process's keyword arguments", async () => {
    const { address } = await odooAlias("leads", { model: "crm.lead", thread_id: 42, save_original: true, strip_attachments: true });
    const raw = mime({ From: "mary@example.org", To: address, Subject: "into a lead" });
    const messageId = messageIdOf(raw);
    await deliver({ to: address, raw }, { env: quiet });
    await runOdoo(messageId);
    const [call] = await receivedBy(messageId);
    expect(call).toMatchObject({ type: "Binary", model: "crm.lead", thread_id: 42, save_original: true, strip_attachments: true, result: 42 });
    expect((await odooDeliveries(messageId))[0]).toMatchObject({ status: "delivered", record_id: 42 });
  });

  it("keeps the API key write-only: sealed in D1, never answered, kept on a PATCH that does not repeat it", async () => {
    const domain = await setupDomain();
    const created = await api("POST", "/v1/aliases", { name: "sales", domain, destinations: [odooDestination()], contact: "everyone" });
    expect(created.status).toBe(201);
    expect(created.body.destinations).toEqual([{ type: "odoo", url: odoo.url, db: odoo.db, login: odoo.login, api_key_set: true }]);
    const id = created.body.id;
    const answers = [
      JSON.stringify(created.body),
      JSON.stringify(await ok("GET", `/v1/aliases/${id}`)),
      JSON.stringify(await ok("GET", `/v1/aliases?domain=${domain}`)),
      JSON.stringify(await ok("GET", "/openapi.json").catch(() => ({}))),
    ];
    for (const answer of answers) expect(answer).not.toContain(odoo.api_key);
    const row = await env.DB.prepare("SELECT destinations FROM aliases WHERE id = ?").bind(id).first<{ destinations: string }>();
    expect(row!.destinations).not.toContain(odoo.api_key);
    expect(JSON.parse(row!.destinations)[0].api_key).toMatch(/^v1\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+$/);

    // The same url, db and login without api_key: the stored key stays, and mail still goes through.
    const patched = await ok("PATCH", `/v1/aliases/${id}`, { destinations: [{ type: "odoo", url: odoo.url, db: odoo.db, login: odoo.login, model: null }, { type: "store" }] });
    expect(JSON.stringify(patched)).not.toContain(odoo.api_key);
    const raw = mime({ From: "mary@example.org", To: `sales@${domain}`, Subject: "after patch" });
    await deliver({ to: `sales@${domain}`, raw }, { env: quiet });
    await runOdoo(messageIdOf(raw));
    expect((await odooDeliveries(messageIdOf(raw)))[0]).toMatchObject({ status: "delivered" });

    // Another URL (or login) is another destination: it needs its key, so a stored key never goes to a new host.
    const moved = await api("PATCH", `/v1/aliases/${id}`, { destinations: [{ type: "odoo", url: "https://odoo.example.net", db: odoo.db, login: odoo.login }] });
    expect(moved.status).toBe(400);
    expect(moved.body.error.message).toContain("needs its api_key");
    const without = await api("POST", "/v1/aliases", {
      name: "nokey",
      domain,
      destinations: [{ type: "odoo", url: odoo.url, db: odoo.db, login: odoo.login }],
      contact: "everyone",
    });
    expect(without.status).toBe(400);
    // One database, one destination; a thread_id is a record of a model.
    const twice = await api("POST", "/v1/aliases", { name: "twice", domain, destinations: [odooDestination(), odooDestination({ login: "other" })], contact: "everyone" });
    expect(twice.status).toBe(422);
    const threadOnly = await api("POST", "/v1/aliases", { name: "pinned", domain, destinations: [odooDestination({ thread_id: 3 })], contact: "everyone" });
    expect(threadOnly.status).toBe(400);
    expect(threadOnly.body.error.message).toContain("set model too");
  });

  it("retries while Odoo is down or its proxy answers 502, then delivers", async () => {
    const { address } = await odooAlias();
    const raw = mime({ From: "mary@example.org", To: address, Subject: "while down" });
    const messageId = messageIdOf(raw);
    const at = clockedWorker();
    await deliver({ to: address, raw }, { ...at, env: quiet });

    await setMode("down");
    await runOdoo(messageId, at);
    let [delivery] = await odooDeliveries(messageId);
    expect(delivery).toMatchObject({ status: "pending", attempts: 1, history: [{ result: "retry", status_code: null }] });
    expect(delivery.last_error).toMatch(/^authenticate: /);
    expect(Date.parse(delivery.next_attempt_at) - at.clock.now()).toBeGreaterThan(20_000);

    await setMode("http502");
    await runOdoo(messageId, at);
    [delivery] = await odooDeliveries(messageId);
    expect(delivery).toMatchObject({ status: "pending", attempts: 2, last_error: expect.stringContaining("authenticate: HTTP 502: <html>") });

    // A serialization failure in Odoo's database passes: tried again too.
    await setMode("fault_serialization");
    await runOdoo(messageId, at);
    [delivery] = await odooDeliveries(messageId);
    expect(delivery).toMatchObject({ status: "pending", attempts: 3, last_error: expect.stringContaining("psycopg2.errors.SerializationFailure: could not serialize access") });

    await setMode("ok");
    await runOdoo(messageId, at);
    [delivery] = await odooDeliveries(messageId);
    expect(delivery).toMatchObject({ status: "delivered", attempts: 4, record_id: expect.any(Number), next_attempt_at: null });
    expect(delivery.history.map((h: any) => [h.result, h.status_code])).toEqual([
      ["retry", null],
      ["retry", 502],
      ["retry", 200],
      ["delivered", 200],
    ]);
    const stored = await findMessage(messageId);
    expect(stored.events.filter((e: any) => e.type.startsWith("odoo_")).map((e: any) => e.type)).toEqual(["odoo_retry", "odoo_retry", "odoo_retry", "odoo_delivered"]);
    // Only the last try reached message_process; the bytes are the ones received.
    const calls = await receivedBy(messageId);
    expect(calls).toHaveLength(1);
    expect(bytesOf(calls[0]!.raw)).toEqual(new TextEncoder().encode(raw));
  });

  it("retries an Odoo that answers too late; the retry finds Odoo already has the Message-ID", async () => {
    const { address } = await odooAlias();
    const raw = mime({ From: "mary@example.org", To: address, Subject: "slow" });
    const messageId = messageIdOf(raw);
    const at = clockedWorker();
    await deliver({ to: address, raw }, { ...at, env: quiet });
    // The 60 s timeout, shortened for the test: each call to the local Odoo gets 1 s.
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation((input, init) =>
      realFetch(input as RequestInfo, String(input instanceof Request ? input.url : input).startsWith(odoo.url) ? { ...init, signal: AbortSignal.timeout(1000) } : init),
    );
    // message_process does its work, then answers 2 s late.
    await setMode("slow", { delay: 2 });
    await runOdoo(messageId, at);
    let [delivery] = await odooDeliveries(messageId);
    expect(delivery).toMatchObject({ status: "pending", record_id: null, last_error: expect.stringMatching(/^message_process: no answer from Odoo within \d+ s$/) });

    await setMode("ok");
    await runOdoo(messageId, at);
    [delivery] = await odooDeliveries(messageId);
    // Odoo made the record on the first call; mailgate never heard its id.
    expect(delivery).toMatchObject({ status: "delivered", attempts: 2, record_id: null });
    expect((await receivedBy(messageId)).map((c) => typeof c.result)).toEqual(["number", "boolean"]);
    const stored = await findMessage(messageId);
    expect(stored.events).toContainEqual(expect.objectContaining({ type: "odoo_delivered", detail: expect.objectContaining({ record_id: null, odoo_answer: "false" }) }));
  });

  it("fails at once, with Odoo's message, on what will not change: a wrong key, Access Denied, no route, an unknown model or database", async () => {
    const cases: { name: string; fields: Record<string, unknown>; mode?: string; error: RegExp }[] = [
      {
        name: "sales",
        fields: { api_key: "not-the-key" },
        error: /^Odoo refused the login mailgate@example\.com on database odoo_test: wrong login or API key \(authenticate answered false\)$/,
      },
      { name: "sales", fields: {}, mode: "fault_access", error: /^message_process: Odoo fault 3: Access Denied$/ },
      {
        name: "nowhere",
        fields: {},
        error:
          /^message_process: Odoo fault 1: ValueError: No possible route found for incoming message from mary@example\.org to nowhere@.* Create an appropriate mail\.alias or force the destination model\.$/,
      },
      { name: "sales", fields: { model: "no.such.model" }, error: /^message_process: Odoo fault 1: ValueError: Mailbox unavailable - unknown target model no\.such\.model$/ },
      { name: "sales", fields: { db: "nodb" }, error: /^authenticate: Odoo fault 1: psycopg2\.OperationalError: .*database "nodb" does not exist$/ },
    ];
    for (const c of cases) {
      const { address } = await odooAlias(c.name, c.fields);
      const raw = mime({ From: "mary@example.org", To: address, Subject: `fails: ${c.name}` });
      const messageId = messageIdOf(raw);
      await deliver({ to: address, raw }, { env: quiet });
      if (c.mode) await setMode(c.mode);
      await runOdoo(messageId);
      await setMode("ok");
      const [delivery] = await odooDeliveries(messageId);
      expect(delivery, c.name).toMatchObject({ status: "failed", attempts: 1, next_attempt_at: null, record_id: null });
      expect(delivery.last_error, JSON.stringify(c)).toMatch(c.error);
      // The traceback is trimmed to its last line.
      expect(delivery.last_error).not.toContain("Traceback");
      const stored = await findMessage(messageId);
      expect(stored.events).toContainEqual(expect.objectContaining({ type: "odoo_failed", detail: expect.objectContaining({ error: delivery.last_error }) }));
      // A settled delivery is not run again.
      await runJobs("deliver", [delivery.id], { env: quiet });
      expect((await odooDeliveries(messageId))[0].attempts).toBe(1);
    }
  });

  it("replays a message into Odoo with POST /v1/messages/{id}/redeliver; Odoo itself drops a Message-ID it has", async () => {
    const { address, alias } = await odooAlias("nowhere");
    const raw = mime({ From: "mary@example.org", To: address, Subject: "replay" });
    const messageId = messageIdOf(raw);
    await deliver({ to: address, raw }, { env: quiet });
    await runOdoo(messageId);
    const stored = await findMessage(messageId);
    const [first] = stored.deliveries.filter((d: any) => d.type === "odoo");
    expect(first).toMatchObject({ status: "failed", last_error: expect.stringContaining("No possible route") });

    // The operator fixes the alias (a model for mail Odoo has no alias for) and replays.
    await ok("PATCH", `/v1/aliases/${alias.id}`, { destinations: [{ type: "odoo", url: odoo.url, db: odoo.db, login: odoo.login, model: "helpdesk.ticket" }] });
    const stale = await api("POST", `/v1/messages/${stored.id}/redeliver`, { types: ["odoo"] }, undefined, {}, { env: quiet });
    expect(stale.status).toBe(202);
    // Same url and db: still the same destination (the target names the database, not the options).
    expect(stale.body.deliveries).toEqual([{ id: expect.any(String), type: "odoo", target: `${odoo.url}#${odoo.db}`, redelivery_of: first.id }]);
    await runOdoo(messageId);
    const replayed = (await odooDeliveries(messageId)).find((d: any) => d.redelivery_of === first.id);
    expect(replayed).toMatchObject({ status: "delivered", record_id: expect.any(Number) });
    const calls = await receivedBy(messageId);
    expect(calls.map((c) => [c.model, c.type])).toEqual([
      [false, "Binary"],
      ["helpdesk.ticket", "Binary"],
    ]);
    for (const call of calls) expect(bytesOf(call.raw)).toEqual(new TextEncoder().encode(raw));

    // Again: Odoo answers False (it has the Message-ID): delivered, no new record.
    const again = await ok("POST", `/v1/messages/${stored.id}/redeliver`, { types: ["odoo"] }, 202, { env: quiet });
    await runJobs("deliver", [again.deliveries[0].id], { env: quiet });
    const twice = (await odooDeliveries(messageId)).find((d: any) => d.id === again.deliveries[0].id);
    expect(twice).toMatchObject({ status: "delivered", record_id: null });

    // A database the alias dropped is skipped.
    await ok("PATCH", `/v1/aliases/${alias.id}`, { destinations: [{ type: "store" }] });
    const dropped = await ok("POST", `/v1/messages/${stored.id}/redeliver`, { types: ["odoo"] }, 202, { env: quiet });
    expect(dropped).toEqual({ deliveries: [], skipped: [{ id: first.id, type: "odoo", reason: "no longer an Odoo destination of the alias" }] });
  });

  it("hands bounce reports that arrive at the domain to the Odoo databases whose destination says bounces: true, raw and once each", async () => {
    const { domain } = await odooAlias("sales", { bounces: true });
    // A second alias into the same database: the report still goes once. And one without bounces on another domain gets nothing.
    await createAlias({ name: "support", domain, destinations: [odooDestination({ bounces: true })] });
    const { domain: quietDomain } = await odooAlias("sales");
    const boundary = unique("dsn");
    const original = `<${unique("odoo")}.1763719200.000000000000000-openerp-message-notify@${domain}>`;
    const report = (to: string) =>
      mime(
        {
          From: "Mail Delivery System <MAILER-DAEMON@mx.example.org>",
          To: to,
          Subject: "Undelivered Mail Returned to Sender",
          "Auto-Submitted": "auto-replied",
          "MIME-Version": "1.0",
          "Content-Type": `multipart/report; report-type=delivery-status; boundary="${boundary}"`,
        },
        [
          `--${boundary}\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n`,
          `--${boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n`,
          // Odoo sent the original itself (its own mail server, Return-Path bounce@domain): mailgate never saw it.
          `--${boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-Id: ${original}\r\nFrom: "Acme" <sales@${domain}>\r\nTo: gone@example.org\r\nSubject: Your quotation\r\n`,
          `--${boundary}--\r\n`,
        ].join(""),
      );
    const raw = report(`bounce@${domain}`);
    const messageId = messageIdOf(raw);
    expect((await deliver({ from: "", to: `bounce@${domain}`, raw }, { env: quiet })).rejected).toBeNull();
    const stored = await findMessage(messageId);
    expect(stored.decision).toMatchObject({ outcome: "accepted", reason: "bounce" });
    const deliveries = stored.deliveries.filter((d: any) => d.type === "odoo");
    expect(deliveries).toMatchObject([{ status: "pending", target: `${odoo.url}#${odoo.db}`, thread_id: null }]);

    await runOdoo(messageId);
    const [call] = await receivedBy(messageId);
    expect(bytesOf(call!.raw)).toEqual(new TextEncoder().encode(raw));
    // What Odoo reads from it: the report, the original it sent, the recipient to count.
    expect(call).toMatchObject({ type: "Binary", result: false, bounce: { original_message_id: original, recipient: "gone@example.org" } });
    expect((await odooDeliveries(messageId))[0]).toMatchObject({ status: "delivered", record_id: null });

    const other = report(`bounce@${quietDomain}`).replace(/^Message-ID: .*$/m, `Message-ID: <${unique("m")}@mx.example.org>`);
    await deliver({ from: "", to: `bounce@${quietDomain}`, raw: other }, { env: quiet });
    expect((await findMessage(messageIdOf(other))).deliveries).toEqual([]);
  });

  describe("where Odoo may be (the webhook rules)", () => {
    const production = { ...env, ALLOW_PRIVATE_WEBHOOKS: undefined } as Env;

    it("refuses private, loopback and plain-http URLs when the alias is saved, and URLs with a query or fragment", async () => {
      const domain = await setupDomain();
      for (const url of [
        odoo.url,
        "https://127.0.0.1/",
        "https://10.0.0.5",
        "http://odoo.example.com",
        "https://odoo.internal",
        "https://odoo.example.com/?db=x",
        "https://odoo.example.com/#x",
      ]) {
        const answer = await api(
          "POST",
          "/v1/aliases",
          { name: unique("a"), domain, destinations: [odooDestination({ url })], contact: "everyone" },
          undefined,
          {},
          { env: production },
        );
        expect(answer.status, url).toBe(400);
        expect(answer.body.error.message, url).toContain("the Odoo URL");
      }
      const created = await api(
        "POST",
        "/v1/aliases",
        { name: unique("a"), domain, destinations: [odooDestination({ url: "https://odoo.example.com/erp/" })], contact: "everyone" },
        undefined,
        {},
        { env: production },
      );
      expect(created.status).toBe(201);
    });

    it("checks again when delivering: a loopback URL saved in development fails in production", async () => {
      const production = { ...quiet, ALLOW_PRIVATE_WEBHOOKS: undefined } as Env;
      const { address } = await odooAlias();
      const raw = mime({ From: "mary@example.org", To: address, Subject: "production" });
      const messageId = messageIdOf(raw);
      await deliver({ to: address, raw }, { env: production });
      await runOdoo(messageId, clockedWorker(), production);
      const [delivery] = await odooDeliveries(messageId);
      expect(delivery).toMatchObject({ status: "failed", last_error: expect.stringMatching(/^the Odoo URL /) });
      expect(await receivedBy(messageId)).toEqual([]);
    });
  });
});
