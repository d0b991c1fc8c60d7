/**
 * End to end: `npm start`'s script runs the real Worker under `wrangler dev`
 * (local D1, KV and R2 on disk), and mail goes in through wrangler's
 * `/cdn-cgi/local/email?format=json`, as Email Routing would hand it over.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminToken, type Running, start as startWorker, stop } from "./wrangler-dev.ts";

const state = mkdtempSync(join(tmpdir(), "mailgate-e2e-"));
const start = () => startWorker(state);
const token = adminToken;

let server: Running;

async function send(from: string, to: string, raw: string) {
  const url = `${server.base}/cdn-cgi/local/email?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&format=json`;
  const response = await fetch(url, { method: "POST", body: raw });
  return (await response.json()) as { outcome: string; rejectReason?: string; forwards: { recipient: string; headers: [string, string][] }[] };
}

async function api(path: string, method = "GET", body?: unknown) {
  const response = await fetch(`${server.base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token()}`, ...(body !== undefined && { "Content-Type": "application/json" }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as any;
}

function message(headers: Record<string, string>, body = "Hello from the end-to-end test.\r\n") {
  return `${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n${body}`;
}

describe("npm start and wrangler dev", () => {
  beforeAll(async () => {
    server = await start();
  }, 120_000);

  afterAll(async () => {
    if (server) await stop(server);
    rmSync(state, { recursive: true, force: true });
  });

  it("accepts mail to a demo alias and shows it through the API", async () => {
    const raw = message({ From: "Mary <mary@example.org>", To: "sales@demo.example", "Message-ID": "<e2e-sales@example.org>", Subject: "Hello" });
    const result = await send("mary@example.org", "sales@demo.example", raw);
    expect(result).toMatchObject({ outcome: "ok", forwards: [] });
    expect(result.rejectReason).toBeUndefined();
    const list = await api(`/v1/messages?message_id=${encodeURIComponent("<e2e-sales@example.org>")}`);
    expect(list.items).toMatchObject([{ status: "accepted", subject: "Hello", has_raw: true, decision: { reason: "routed" } }]);
    const raw2 = await fetch(`${server.base}/v1/messages/${list.items[0].id}/raw`, { headers: { Authorization: `Bearer ${token()}` } });
    expect(await raw2.text()).toBe(raw);
  });

  it("forwards with the trace header, and threads a reply sent to the catchall", async () => {
    const first = message({ From: "mary@example.org", To: "team@demo.example", "Message-ID": "<e2e-team@example.org>", Subject: "Question" });
    const forwarded = await send("mary@example.org", "team@demo.example", first);
    expect(forwarded.forwards).toMatchObject([{ recipient: "team-inbox@example.org" }]);
    expect(forwarded.forwards[0]!.headers.map(([k]) => k)).toContain("x-mailgate-trace");

    const reply = message({ From: "mary@example.org", To: "catchall@demo.example", "Message-ID": "<e2e-team-2@example.org>", "In-Reply-To": "<e2e-team@example.org>" });
    expect((await send("mary@example.org", "catchall@demo.example", reply)).rejectReason).toBeUndefined();
    const [opened] = (await api(`/v1/messages?message_id=${encodeURIComponent("<e2e-team@example.org>")}`)).items;
    const [replied] = (await api(`/v1/messages?message_id=${encodeURIComponent("<e2e-team-2@example.org>")}`)).items;
    expect(replied.thread_id).toBe(opened.thread_id);
  });

  it("refuses unknown addresses and direct mail to the catchall, with the reason in the SMTP answer", async () => {
    const unknown = await send(
      "mary@example.org",
      "nobody@demo.example",
      message({ From: "mary@example.org", To: "nobody@demo.example", "Message-ID": "<e2e-nobody@example.org>" }),
    );
    expect(unknown.rejectReason).toBe("There is no mailbox or alias for nobody@demo.example here. Please check the address.");
    const catchall = await send(
      "mary@example.org",
      "catchall@demo.example",
      message({ From: "mary@example.org", To: "catchall@demo.example", "Message-ID": "<e2e-catchall@example.org>" }),
    );
    expect(catchall.rejectReason).toContain("should not be used to directly contact Demo Company");
    // Unread bodies are released: workerd would otherwise report the event as hung.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.log()).not.toMatch(/hung/);
  });

  it("sends through the demo relay: the queue consumer delivers it with Cloudflare Email Service", async () => {
    const response = await fetch(`${server.base}/v1/messages`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token()}`, "Content-Type": "application/json" },
      body: JSON.stringify({ from: "Sales <sales@demo.example>", to: ["someone@example.org"], subject: "From the demo", text: "Hello" }),
    });
    expect(response.status).toBe(202);
    const answer = (await response.json()) as { id: string; relay: { type: string } };
    expect(answer.relay.type).toBe("cloudflare");
    let message: any;
    for (let i = 0; i < 300; i++) {
      message = await api(`/v1/messages/${answer.id}`);
      if (message.status !== "queued") break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(message).toMatchObject({ status: "sent", recipients: [{ address: "someone@example.org", status: "sent" }] });
  });

  it("notifies the support alias's follower through the real queue and the demo relay", async () => {
    const raw = message({ From: "Mary Major <mary@example.org>", To: "support@demo.example", "Message-ID": "<e2e-support@example.org>", Subject: "Help" });
    expect((await send("mary@example.org", "support@demo.example", raw)).rejectReason).toBeUndefined();
    const [inbound] = (await api(`/v1/messages?message_id=${encodeURIComponent("<e2e-support@example.org>")}`)).items;
    let notified: any;
    for (let i = 0; i < 300 && !notified; i++) {
      const detail = await api(`/v1/messages/${inbound.id}`);
      notified = detail.events.find((e: any) => e.type === "notify_delivered");
      if (!notified) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(notified?.detail.notified, JSON.stringify(await api(`/v1/messages/${inbound.id}`))).toEqual(["agent@example.org"]);
    let copy: any;
    for (let i = 0; i < 300; i++) {
      copy = await api(`/v1/messages/${notified.detail.messages[0]}`);
      if (copy.status !== "queued") break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(copy).toMatchObject({ status: "sent", from: { name: "Mary Major", address: "notifications@demo.example" }, thread_id: inbound.thread_id });
  }, 150_000);

  it("counts a burst exactly under wrangler dev: of 20 concurrent messages from one sender to one alias, threshold 5, 5 get in", async () => {
    const previous = await api("/v1/settings");
    await api("/v1/settings", "PUT", { loop_threshold: 5 });
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          send(
            "burst@robots.example",
            "sales@demo.example",
            message({ From: "burst@robots.example", To: "sales@demo.example", "Message-ID": `<e2e-burst-${i}@robots.example>`, Subject: `Burst ${i}` }),
          ),
        ),
      );
      expect(results.filter((r) => r.outcome === "ok" && r.rejectReason === undefined)).toHaveLength(5);
      expect(results.filter((r) => r.rejectReason?.includes("contacted it too many times"))).toHaveLength(15);
    } finally {
      await api("/v1/settings", "PUT", { loop_threshold: previous.loop_threshold });
    }
  }, 120_000);

  it("serves an OpenAPI 3.1 document that a maintained validator accepts", async () => {
    const document = await (await fetch(`${server.base}/v1/openapi.json`)).json();
    const validator = new Validator();
    const result = await validator.validate(document as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)?.slice(0, 4000)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("seeds idempotently: a second start keeps the data and adds nothing", async () => {
    await stop(server);
    server = await start();
    const aliases = await api("/v1/aliases?domain=demo.example");
    expect(aliases.items.map((a: any) => a.address).sort()).toEqual(["sales@demo.example", "support@demo.example", "team@demo.example"]);
    expect((await api("/v1/relays")).items.map((r: any) => r.type)).toEqual(["cloudflare"]);
    expect((await api(`/v1/messages?message_id=${encodeURIComponent("<e2e-sales@example.org>")}`)).items).toHaveLength(1);
  }, 120_000);
});
