/**
 * Usage in view (`GET /v1/usage`, `/health`'s warnings) through the API,
 * on a known data set: inbound mail and sends on different days (a clocked
 * Worker), sends left queued, a webhook left pending. Every number is
 * checked against D1 and R2 themselves. This file's storage starts empty
 * (isolated per file) and its tests run in order: the first sees the empty
 * gateway, the next ones the data set the second builds. The thresholds of
 * the warnings (sizes near 10 GB) are table-tested in test/unit/usage.test.ts.
 */
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { api, clockedWorker, createAlias, deliver, mime, ok, onlyRelays, queueSpy, send, sendAndDeliver, setupDomain, smtpOutcome, smtpRelay, unique, type Via } from "./helpers";

const DAY = 24 * 3600_000;
const LIMIT = 10_000_000_000;
const mail = inject("mail");
const login = { username: mail.smtpUser, password: mail.smtpPassword };

const dateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** Today, midnight UTC (the test's clocked Worker runs on today, at fixed hours). */
const today = Math.floor(Date.now() / DAY) * DAY;

/** Our tables as D1 has them (the migrations'), each with its `count(*)`: what `rows` must say. */
async function tableCounts(): Promise<Record<string, number>> {
  const tables = await env.DB.prepare(
    "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '_cf_%' and name != 'd1_migrations' order by name",
  ).all<{ name: string }>();
  const counts: Record<string, number> = {};
  for (const { name } of tables.results) counts[name] = (await env.DB.prepare(`select count(*) as n from "${name}"`).first<{ n: number }>())!.n;
  return counts;
}

/** The database's size as D1 reports it right now. */
async function d1Size(): Promise<number> {
  return (await env.DB.prepare("select 1").run()).meta.size_after;
}

/** Every object in R2 with its size, from `list()` and, to be sure, `head()`. */
async function r2Objects(): Promise<Map<string, number>> {
  const objects = new Map<string, number>();
  let cursor: string | undefined;
  do {
    const page = await env.RAW.list({ cursor });
    for (const object of page.objects) {
      const head = await env.RAW.head(object.key);
      expect(head?.size, object.key).toBe(object.size);
      objects.set(object.key, object.size);
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return objects;
}

describe("GET /v1/usage", () => {
  it("on an empty gateway: every count zero, 30 empty days, no projection; /health has no warnings", async () => {
    const usage = await ok("GET", "/v1/usage");
    expect(usage.d1.bytes).toBe(await d1Size());
    expect(Number.isInteger(usage.d1.bytes) && usage.d1.bytes > 0).toBe(true);
    expect(usage.d1.limit_bytes).toBe(LIMIT);
    const counts = await tableCounts();
    expect(usage.d1.rows).toEqual(counts);
    expect(Object.values(usage.d1.rows).every((n) => n === 0)).toBe(true);
    expect(Object.keys(usage.d1.rows)).toEqual(expect.arrayContaining(["messages", "deliveries", "relays", "domains", "aliases", "threads"]));
    expect(usage.r2).toEqual({ objects: 0, bytes: 0 });
    expect(usage.messages_per_day).toHaveLength(30);
    expect(usage.messages_per_day.at(-1)).toEqual({ date: dateOf(Date.now()), in: 0, out: 0 });
    expect(usage.messages_per_day[0].date).toBe(dateOf(Date.now() - 29 * DAY));
    expect(usage.messages_per_day.every((d: any) => d.in === 0 && d.out === 0)).toBe(true);
    expect(usage.backlog).toEqual({ due: 0, overdue: 0 });
    expect(usage.d1_full_at).toBeNull();

    expect(await api("GET", "/health", undefined, null)).toMatchObject({ status: 200, body: { status: "ok", warnings: [] } });
  });

  it("on a known data set: rows, R2, mail per day, backlog and the projection are exact", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "support", domain });
    await createAlias({ name: "hook", domain, destinations: [{ type: "webhook", url: `${mail.control}/hooks/${unique("usage")}` }] });
    await onlyRelays([smtpRelay("plain", {}, login)]);
    const { worker, clock } = clockedWorker(today - 5 * DAY + 10 * 3600_000);
    // The queue takes no job: what the test does not run stays queued or pending.
    const spy = queueSpy();
    const via: Via = { worker, env: spy.env };
    const inbound = async (to: string) =>
      expect(smtpOutcome(await deliver({ to: `${to}@${domain}`, raw: mime({ From: "someone@sender.example", To: `${to}@${domain}`, Subject: "usage" }) }, via))).toBe("accepted");
    const outbound = (length: number) => ({ from: `mary@${domain}`, to: [`${unique("rcpt")}@example.org`], subject: "usage", text: "x".repeat(length) });

    // Five days ago: two in, one out.
    await inbound("support");
    await inbound("support");
    expect((await sendAndDeliver(outbound(10), undefined, via)).message.status).toBe("sent");
    // Two days ago: one in, one out.
    clock.advance(3 * DAY);
    await inbound("support");
    expect((await sendAndDeliver(outbound(1000), undefined, via)).message.status).toBe("sent");
    // Today, 10:00: a send left queued; at 10:15 a webhook left pending and a second send left queued.
    clock.advance(2 * DAY);
    await send(outbound(200), undefined, via);
    clock.advance(15 * 60_000);
    await inbound("hook");
    await send(outbound(3000), undefined, via);

    // Records kept forever (the default, 400 days, would level D1 off far below its limit).
    await ok("PUT", "/v1/settings", { record_retention_days: 0 });
    const usage = await ok("GET", "/v1/usage", undefined, 200, via);

    // D1: its own size, and every table's count(*).
    expect(usage.d1.bytes).toBe(await d1Size());
    expect(usage.d1.rows).toEqual(await tableCounts());
    expect(usage.d1.rows).toMatchObject({ messages: 8, domains: 1, aliases: 2, relays: 1, outbound_recipients: 4, attempts: 2, api_keys: 0, idempotency_keys: 0 });
    expect(usage.d1.rows.deliveries).toBeGreaterThanOrEqual(1);

    // R2: every stored raw copy is a message with raw_key, and its size is the object's.
    const objects = await r2Objects();
    expect(objects.size).toBe(8);
    const rows = await env.DB.prepare("select raw_key, size from messages where raw_key is not null").all<{ raw_key: string; size: number }>();
    expect(new Map(rows.results.map((r) => [r.raw_key, r.size]))).toEqual(objects);
    expect(usage.r2).toEqual({ objects: objects.size, bytes: [...objects.values()].reduce((a, b) => a + b, 0) });

    // Mail per day: 30 UTC days, today last.
    expect(usage.messages_per_day).toHaveLength(30);
    expect(usage.messages_per_day.at(-1).date).toBe(dateOf(today));
    const expected = new Map([
      [dateOf(today - 5 * DAY), { in: 2, out: 1 }],
      [dateOf(today - 2 * DAY), { in: 1, out: 1 }],
      [dateOf(today), { in: 1, out: 2 }],
    ]);
    usage.messages_per_day.forEach((day: any, i: number) => {
      expect(day, `day ${i}`).toEqual({ date: dateOf(today - (29 - i) * DAY), ...(expected.get(day.date) ?? { in: 0, out: 0 }) });
    });

    // Backlog: two sends queued and one webhook pending, all due; the send of 10:00 due more than 10 minutes ago.
    expect(usage.backlog).toEqual({ due: 3, overdue: 1 });

    // Growth: 5 messages in the last 7 full days, at bytes / 8 each, and records kept forever.
    const perDay = (usage.d1.bytes / 8) * (5 / 7);
    const days = Math.ceil((LIMIT - usage.d1.bytes) / perDay);
    expect(usage.d1_full_at).toBe(dateOf(today + days * DAY));

    // Health: a small database, no warnings.
    expect((await api("GET", "/health", undefined, null, {}, via)).body).toEqual({ status: "ok", warnings: [] });

    // Records kept 400 days: D1 levels off at bytes/8 × 5/7 × 400, far below 10 GB.
    await ok("PUT", "/v1/settings", { record_retention_days: 400 });
    expect((await ok("GET", "/v1/usage", undefined, 200, via)).d1_full_at).toBeNull();
  });

  it("weeks later: no mail in the last 7 days is no growth; what stayed queued is overdue", async () => {
    const { worker } = clockedWorker(today + 40 * DAY + 12 * 3600_000);
    const usage = await ok("GET", "/v1/usage", undefined, 200, { worker });
    expect(usage.d1.rows.messages).toBe(8);
    expect(usage.messages_per_day).toHaveLength(30);
    expect(usage.messages_per_day.at(-1).date).toBe(dateOf(today + 40 * DAY));
    expect(usage.messages_per_day.every((d: any) => d.in === 0 && d.out === 0)).toBe(true);
    expect(usage.d1_full_at).toBeNull();
    expect(usage.backlog).toEqual({ due: 3, overdue: 3 });
  });

  it("needs the admin token: an API key is refused, no token is refused", async () => {
    const key = await ok("POST", "/v1/keys", { name: unique("usage") }, 201);
    expect((await api("GET", "/v1/usage", undefined, key.key)).status).toBe(403);
    expect((await api("GET", "/v1/usage", undefined, null)).status).toBe(401);
  });

  it("is in the OpenAPI document, with /health's warnings", async () => {
    const doc = (await api("GET", "/v1/openapi.json", undefined, null)).body;
    expect(doc.paths["/v1/usage"].get.responses["200"]).toBeDefined();
    expect(Object.keys(doc.components.schemas.Usage.properties)).toEqual(["d1", "r2", "messages_per_day", "backlog", "d1_full_at"]);
    const health = doc.paths["/health"].get.responses["200"].content["application/json"].schema;
    expect(health.required).toEqual(["status", "warnings"]);
    expect(health.properties.warnings.type).toBe("array");
  });
});
