/**
 * Event hooks (`/v1/event-hooks`): customers hear what happens to the mail
 * they send. Mail goes out through an SMTP relay to the loopback test
 * server, so a `message.sent` event is recorded; the hook's deliveries run
 * through `queue()` and post to a loopback receiver (test/node/mail-servers.ts)
 * that verifies each signature the way the README tells receivers to.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it, onTestFinished } from "vitest";
import type { Env } from "../src/env";
import { ADMIN_TOKEN, api, clockedWorker, ok, onlyRelays, runJobs, sendAndDeliver, setupDomain, smtpRelay, unique } from "./helpers";

const mail = inject("mail");
const login = { username: mail.smtpUser, password: mail.smtpPassword };

let domain: string;

beforeAll(async () => {
  domain = await setupDomain();
  await onlyRelays([smtpRelay("plain", { from_filter: domain }, login)]);
});

/** A loopback receiver (`/hooks/<name>`) knowing these secrets; answers its URL. */
async function receiver(secrets: string[] = [], options: { fail?: number; failStatus?: number } = {}, url = `${mail.control}/hooks/${unique("evh")}`): Promise<string> {
  await fetch(url, { method: "PUT", body: JSON.stringify({ secrets, fail: options.fail ?? 0, failStatus: options.failStatus ?? 500 }) });
  return url;
}

async function received(url: string): Promise<any[]> {
  return (await fetch(url)).json();
}

/** A new API key (its token is `key`). */
async function newKey(): Promise<{ id: string; key: string }> {
  return ok("POST", "/v1/keys", { name: unique("key") }, 201);
}

/** Creates a hook as `token` and points a fresh receiver, which knows its secret, at it. */
async function hookFor(token: string, events: string[], options: { fail?: number; failStatus?: number } = {}) {
  const url = await receiver();
  const created = await api("POST", "/v1/event-hooks", { url, events }, token);
  expect(created.status).toBe(201);
  await receiver([created.body.secret], options, url);
  return { hook: created.body, url };
}

/** Sends one message as `token` to one recipient through the SMTP relay; answers the message as the admin sees it. */
async function sendAs(token: string) {
  const rcpt = `${unique("rcpt")}@example.org`;
  const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt], subject: "event hooks", text: "x" }, token);
  expect(message.status).toBe("sent");
  return { message, rcpt };
}

const hookDeliveries = async (messageId: string) => (await ok("GET", `/v1/messages/${messageId}`)).deliveries.filter((d: any) => d.type === "event_hook");

/** Runs a message's pending hook deliveries on `at`'s Worker once they are due (its clock moves on to the latest). */
async function runHooks(messageId: string, at = clockedWorker()) {
  const pending = (await hookDeliveries(messageId)).filter((d: any) => d.status === "pending");
  const due = Math.max(0, ...pending.map((d: any) => (d.next_attempt_at ? Date.parse(d.next_attempt_at) : 0)));
  if (due > at.clock.now()) at.clock.advance(due - at.clock.now());
  return runJobs(
    "deliver",
    pending.map((d: any) => d.id),
    at,
  );
}

describe("event hooks: the API", () => {
  it("are created with a signing secret shown once, listed, changed, rotated and deleted", async () => {
    const { key } = await newKey();
    const url = await receiver();
    const created = await api("POST", "/v1/event-hooks", { url, events: ["message.sent", "message.bounced"] }, key);
    expect(created).toMatchObject({ status: 201, body: { id: expect.stringMatching(/^evh_/), url, events: ["message.sent", "message.bounced"] } });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const id = created.body.id;

    const shown = await api("GET", `/v1/event-hooks/${id}`, undefined, key);
    expect(shown.status).toBe(200);
    expect(shown.body.secret).toBeUndefined();
    const listed = await api("GET", "/v1/event-hooks", undefined, key);
    expect(listed.body.items.map((h: any) => h.id)).toEqual([id]);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.secret);
    expect(JSON.stringify(await ok("GET", "/v1/event-hooks?limit=200"))).not.toContain(created.body.secret);

    const patched = await api("PATCH", `/v1/event-hooks/${id}`, { events: ["message.delivered"] }, key);
    expect(patched).toMatchObject({ status: 200, body: { id, url, events: ["message.delivered"] } });
    expect(patched.body.secret).toBeUndefined();

    const rotated = await api("POST", `/v1/event-hooks/${id}/secret`, { previous_valid_seconds: 0 }, key);
    expect(rotated).toMatchObject({ status: 200, body: { secret: expect.stringMatching(/^whsec_/), previous_expires_at: null } });
    expect(rotated.body.secret).not.toBe(created.body.secret);

    expect((await api("DELETE", `/v1/event-hooks/${id}`, undefined, key)).status).toBe(204);
    expect((await api("GET", `/v1/event-hooks/${id}`, undefined, key)).status).toBe(404);
    expect((await api("DELETE", `/v1/event-hooks/${id}`, undefined, key)).status).toBe(404);
  });

  it("refuses unknown, repeated or no events, and unknown fields", async () => {
    const url = await receiver();
    for (const [body, text] of [
      [{ url, events: [] }, "events"],
      [{ url, events: ["message.received"] }, "events.0"],
      [{ url, events: ["message.sent", "message.sent"] }, "each event at most once"],
      [{ url, events: ["message.sent"], colour: "blue" }, "colour"],
      [{ events: ["message.sent"] }, "url"],
    ] as const) {
      const response = await api("POST", "/v1/event-hooks", body);
      expect(response, JSON.stringify(body)).toMatchObject({ status: 400, body: { error: { code: "invalid_request", message: expect.stringContaining(text) } } });
    }
  });

  it("refuses private, loopback and link-local URLs, and plain http, when saved and when changed (SSRF)", async () => {
    const production = { ...env, ALLOW_PRIVATE_WEBHOOKS: undefined } as Env;
    for (const [url, reason] of [
      ["http://hooks.example.com/x", "must be https"],
      ["https://127.0.0.1/x", "must not point to a private"],
      ["https://169.254.169.254/latest/meta-data", "must not point to a private"],
      ["https://10.1.2.3/x", "must not point to a private"],
      ["https://[::1]/x", "must not point to a private"],
      ["https://hooks.internal/x", "must not point to a private"],
      ["https://user:pw@hooks.example.com/x", "must not carry credentials"],
      ["not a url", "is not a URL"],
    ]) {
      const response = await api("POST", "/v1/event-hooks", { url, events: ["message.sent"] }, ADMIN_TOKEN, {}, { env: production });
      expect(response, url).toMatchObject({
        status: 400,
        body: { error: { code: "invalid_request", message: expect.stringMatching(new RegExp(`^invalid body: url: .*${reason}`)) } },
      });
    }
    const { key } = await newKey();
    const created = await api("POST", "/v1/event-hooks", { url: "https://hooks.example.com/mail", events: ["message.sent"] }, key, {}, { env: production });
    expect(created.status).toBe(201);
    const moved = await api("PATCH", `/v1/event-hooks/${created.body.id}`, { url: "https://192.168.1.1/x" }, key, {}, { env: production });
    expect(moved).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining("url: the event hook URL must not point to a private") } } });
    expect((await api("GET", `/v1/event-hooks/${created.body.id}`, undefined, key)).body.url).toBe("https://hooks.example.com/mail");
  });
});

describe("event hooks: who hears what", () => {
  it("a key's hook hears only about the key's own mail; another key gets 404 on it; the admin sees and hears all", async () => {
    const a = await newKey();
    const b = await newKey();
    const hookA = await hookFor(a.key, ["message.sent"]);
    const hookB = await hookFor(b.key, ["message.sent"]);
    const admin = await hookFor(ADMIN_TOKEN, ["message.sent"]);
    // The admin's hook hears of every send: gone after this test, whatever happens in it, so later tests' sends stay their own.
    onTestFinished(() => api("DELETE", `/v1/event-hooks/${admin.hook.id}`).then(() => {}));
    expect(hookA.hook.api_key_id).toBe(a.id);
    expect(admin.hook.api_key_id).toBeNull();

    // Another key: 404 on everything of A's hook, exactly as for a hook that does not exist.
    const missing = await api("GET", "/v1/event-hooks/evh_missing", undefined, b.key);
    for (const [method, path, body] of [
      ["GET", `/v1/event-hooks/${hookA.hook.id}`, undefined],
      ["PATCH", `/v1/event-hooks/${hookA.hook.id}`, { events: ["message.bounced"] }],
      ["POST", `/v1/event-hooks/${hookA.hook.id}/secret`, {}],
      ["DELETE", `/v1/event-hooks/${hookA.hook.id}`, undefined],
    ] as const) {
      const response = await api(method, path, body, b.key);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.error.message).toBe(`event hook ${hookA.hook.id} not found`);
      expect(response.body.error.code).toBe(missing.body.error.code);
    }
    expect((await api("GET", "/v1/event-hooks", undefined, b.key)).body.items.map((h: any) => h.id)).toEqual([hookB.hook.id]);
    // The admin sees every hook, and may read A's.
    const all = (await ok("GET", "/v1/event-hooks?limit=200")).items.map((h: any) => h.id);
    expect(all).toEqual(expect.arrayContaining([hookA.hook.id, hookB.hook.id, admin.hook.id]));
    expect((await ok("GET", `/v1/event-hooks/${hookA.hook.id}`)).api_key_id).toBe(a.id);
    // Keys still may not use admin routes.
    expect((await api("GET", "/v1/relays", undefined, a.key)).status).toBe(403);

    // A sends: A's hook and the admin's hear of it; B's does not.
    const { message } = await sendAs(a.key);
    const deliveries = await hookDeliveries(message.id);
    expect(deliveries.map((d: any) => d.target).sort()).toEqual([hookA.url, admin.url].sort());
    await runHooks(message.id);
    expect(await received(hookA.url)).toHaveLength(1);
    expect(await received(admin.url)).toHaveLength(1);
    expect(await received(hookB.url)).toHaveLength(0);
    // A key reads its own message, with its hook deliveries.
    expect((await api("GET", `/v1/messages/${message.id}`, undefined, a.key)).status).toBe(200);
  });
});

describe("event hooks: delivery", () => {
  it("posts one signed event with the documented body; a hook not subscribed to it gets nothing", async () => {
    const { key } = await newKey();
    const sent = await hookFor(key, ["message.sent", "message.delivered"]);
    const bounced = await hookFor(key, ["message.bounced"]);
    const { message, rcpt } = await sendAs(key);

    const [delivery, ...others] = await hookDeliveries(message.id);
    expect(others).toEqual([]);
    expect(delivery).toMatchObject({ id: expect.stringMatching(new RegExp(`^dlv_ev\\d+_${sent.hook.id}$`)), target: sent.url, status: "pending", attempts: 0 });

    await runHooks(message.id);
    const requests = await received(sent.url);
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request.verified).toBe(true);
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["mailgate-delivery-id"]).toBe(delivery.id);
    expect(request.headers["mailgate-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(request.body).toEqual({
      id: delivery.id,
      type: "message.sent",
      created_at: expect.any(String),
      data: { message_id: message.id, rfc_message_id: message.message_id, recipient: rcpt, status: expect.any(String), diagnostic: expect.any(String) },
    });
    expect(Math.abs(Date.parse(request.body.created_at) - Date.now())).toBeLessThan(60_000);
    expect(request.body.data.status).toMatch(/^2\d\d/);
    expect(await received(bounced.url)).toEqual([]);

    const [settled] = await hookDeliveries(message.id);
    expect(settled).toMatchObject({ status: "delivered", attempts: 1, history: [{ result: "delivered", status_code: 200 }] });
    // A queue redelivery of a settled delivery posts nothing.
    await runJobs("deliver", [delivery.id]);
    expect(await received(sent.url)).toHaveLength(1);
  });

  it("retries a 500 with the same id, and stops at 410 Gone", async () => {
    const { key } = await newKey();
    const flaky = await hookFor(key, ["message.sent"], { fail: 1, failStatus: 500 });
    const gone = await hookFor(key, ["message.sent"], { fail: 1, failStatus: 410 });
    const { message } = await sendAs(key);
    const at = clockedWorker();

    await runHooks(message.id, at);
    const byTarget = async () => Object.fromEntries((await hookDeliveries(message.id)).map((d: any) => [d.target, d]));
    let deliveries = await byTarget();
    expect(deliveries[flaky.url]).toMatchObject({
      status: "pending",
      attempts: 1,
      last_error: expect.stringContaining("HTTP 500"),
      history: [{ result: "retry", status_code: 500 }],
    });
    expect(Date.parse(deliveries[flaky.url].next_attempt_at) - at.clock.now()).toBeGreaterThan(20_000);
    expect(deliveries[gone.url]).toMatchObject({ status: "failed", attempts: 1, last_error: expect.stringContaining("410 Gone"), history: [{ result: "gone", status_code: 410 }] });

    await runHooks(message.id, at);
    // The settled one is not posted again, even when its job comes again.
    await runJobs("deliver", [deliveries[gone.url].id], at);
    deliveries = await byTarget();
    expect(deliveries[flaky.url]).toMatchObject({ status: "delivered", attempts: 2, next_attempt_at: null });
    expect(deliveries[flaky.url].history.map((h: any) => [h.result, h.status_code])).toEqual([
      ["retry", 500],
      ["delivered", 200],
    ]);
    const flakyRequests = await received(flaky.url);
    expect(flakyRequests.map((r: any) => [r.body.id, r.status, r.verified])).toEqual([
      [deliveries[flaky.url].id, 500, true],
      [deliveries[flaky.url].id, 200, true],
    ]);
    expect(await received(gone.url)).toHaveLength(1);
  });

  it("fails, saying why, a delivery whose hook was deleted, unsubscribed or moved since the event", async () => {
    const { key } = await newKey();
    const deleted = await hookFor(key, ["message.sent"]);
    const unsubscribed = await hookFor(key, ["message.sent"]);
    const moved = await hookFor(key, ["message.sent"]);
    const { message } = await sendAs(key);
    expect(await hookDeliveries(message.id)).toHaveLength(3);
    await api("DELETE", `/v1/event-hooks/${deleted.hook.id}`, undefined, key);
    await api("PATCH", `/v1/event-hooks/${unsubscribed.hook.id}`, { events: ["message.bounced"] }, key);
    const elsewhere = await receiver();
    await api("PATCH", `/v1/event-hooks/${moved.hook.id}`, { url: elsewhere }, key);

    await runHooks(message.id);
    const errors = Object.fromEntries((await hookDeliveries(message.id)).map((d: any) => [d.target, [d.status, d.last_error]]));
    expect(errors).toEqual({
      [deleted.url]: ["failed", `the event hook ${deleted.hook.id} no longer exists`],
      [unsubscribed.url]: ["failed", "the event hook no longer subscribes to message.sent"],
      [moved.url]: ["failed", expect.stringContaining("URL changed")],
    });
    for (const url of [deleted.url, unsubscribed.url, moved.url, elsewhere]) expect(await received(url)).toEqual([]);
  });

  it("signs with both secrets during a rotation", async () => {
    const { key } = await newKey();
    const { hook, url } = await hookFor(key, ["message.sent"]);
    const rotated = await api("POST", `/v1/event-hooks/${hook.id}/secret`, { previous_valid_seconds: 3600 }, key);
    expect(rotated.status).toBe(200);
    expect(Date.parse(rotated.body.previous_expires_at) - Date.now()).toBeGreaterThan(3500_000);
    // A receiver that knows only the new secret verifies; one that knows only the old one still does.
    await receiver([rotated.body.secret], {}, url);
    const first = await sendAs(key);
    await runHooks(first.message.id);
    const [signed] = await received(url);
    expect(signed.verified).toBe(true);
    expect(signed.headers["mailgate-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    await receiver([hook.secret], {}, url);
    const second = await sendAs(key);
    await runHooks(second.message.id);
    expect((await received(url)).map((r: any) => [r.body.data.message_id, r.verified])).toEqual([[second.message.id, true]]);
  });
});
