/**
 * Retention through the scheduled handler (issue 10): raw mail leaves R2
 * after its days (an alias may say fewer), records leave D1 after theirs,
 * with what hangs off them and the threads they emptied; queued work and
 * suppressions stay; what was deleted is counted.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, clockedWorker, createAlias, deliver, findMessage, mime, ok, onlyRelays, runScheduled, send, setupDomain, smtpRelay, unique, withSettings } from "./helpers";

const DAY = 24 * 3600_000;

describe("retention", () => {
  it("raw copies after their days (the alias's own first), records after theirs; queued work and suppressions stay", async () => {
    await withSettings({ raw_retention_days: 90, record_retention_days: 400 }, async () => {
      const t0 = Date.now() - 500 * DAY;
      const at = clockedWorker(t0);
      const domain = await setupDomain();
      const kept = await createAlias({ name: unique("kept"), domain });
      const brief = await createAlias({ name: unique("brief"), domain, raw_retention_days: 1 });
      expect(brief.raw_retention_days).toBe(1);

      // Mail arrives at t0 (the Worker's clock), to each alias.
      const arrive = async (to: string) => {
        const raw = mime({ From: `${unique("s")}@sender.example`, To: to, Subject: "Hello", "Message-ID": `<${unique("r")}@sender.example>` });
        await deliver({ to, raw }, at);
        return findMessage(/Message-ID: (<[^>]+>)/.exec(raw)![1]!);
      };
      const toKept = await arrive(kept.address);
      const toBrief = await arrive(brief.address);
      const many = await Promise.all(Array.from({ length: 130 }, () => arrive(kept.address)));
      // Work still queued at t0 (no queue ran), and a suppression made then.
      await onlyRelays([smtpRelay("plain", { from_filter: domain })]);
      const queued = await send({ from: `sales@${domain}`, to: ["someone@example.org"], subject: "Queued", text: "x" }, undefined, at);
      const suppressed = `${unique("gone")}@example.org`;
      await ok("POST", "/v1/contacts", { email: suppressed }, 201);
      await ok("PATCH", `/v1/contacts/${suppressed}`, { suppressed: true });

      // Two days on: only the brief alias's raw copy is gone.
      at.clock.advance(2 * DAY);
      await runScheduled(at);
      expect((await ok("GET", `/v1/messages/${toBrief.id}`)).has_raw).toBe(false);
      expect((await api("GET", `/v1/messages/${toBrief.id}/raw`)).status).toBe(404);
      expect((await ok("GET", `/v1/messages/${toKept.id}`)).has_raw).toBe(true);
      expect(await env.RAW.head(await rawKeyOf(toKept.id))).not.toBeNull();

      // 91 days on: every raw copy past 90 days is gone, from R2 too; the records stay.
      const keyOfKept = await rawKeyOf(toKept.id);
      at.clock.advance(89 * DAY);
      await runScheduled(at);
      expect((await ok("GET", `/v1/messages/${toKept.id}`)).has_raw).toBe(false);
      expect(await env.RAW.head(keyOfKept)).toBeNull();
      expect((await ok("GET", `/v1/messages/${many[129].id}`)).has_raw).toBe(false);

      // 401 days on: the records go, with their events and thread links, and the threads they emptied.
      const thread = toKept.thread_id;
      at.clock.advance(310 * DAY);
      await runScheduled(at);
      expect((await api("GET", `/v1/messages/${toKept.id}`)).status).toBe(404);
      expect((await api("GET", `/v1/messages/${many[0].id}`)).status).toBe(404);
      expect((await api("GET", `/v1/threads/${thread}`)).status).toBe(404);
      const events = await env.DB.prepare("select count(*) as n from message_events where message_id = ?").bind(toKept.id).first<{ n: number }>();
      expect(events?.n).toBe(0);
      // Untouched: the queued send, the suppression.
      expect(await ok("GET", `/v1/messages/${queued.id}`)).toMatchObject({ status: "queued" });
      expect(await ok("GET", `/v1/contacts/${suppressed}`)).toMatchObject({ suppressed: true });

      const retention = await ok("GET", "/v1/retention");
      expect(retention.deleted_total.records).toBeGreaterThanOrEqual(132);
      expect(retention.deleted_total.raw).toBeGreaterThanOrEqual(132);
      expect(retention.deleted_total.threads).toBeGreaterThanOrEqual(1);

      // A second run at the same time finds nothing more to do.
      const before = retention.runs.length;
      await runScheduled(at);
      expect((await ok("GET", "/v1/retention")).runs.length).toBe(before);
    });
  });

  it("deleting an alias with purge=true deletes its stored mail in the next sweeps; mail another alias took too stays", async () => {
    const at = clockedWorker();
    const domain = await setupDomain();
    const gone = await createAlias({ name: unique("gone"), domain });
    const other = await createAlias({ name: unique("other"), domain });
    const arrive = async (to: string[]) => {
      const raw = mime({ From: `${unique("s")}@sender.example`, To: to.join(", "), Subject: "Hello", "Message-ID": `<${unique("p")}@sender.example>` });
      for (const rcpt of to) await deliver({ to: rcpt, raw }, at);
      return (await findMessage(/Message-ID: (<[^>]+>)/.exec(raw)![1]!)).id as string;
    };
    const only = await Promise.all(Array.from({ length: 3 }, () => arrive([gone.address])));
    const shared = await arrive([gone.address, other.address]);
    const keyOfOnly = await rawKeyOf(only[0]!);

    const purge = await api("DELETE", `/v1/aliases/${gone.id}?purge=true`);
    expect(purge).toMatchObject({ status: 202, body: { kind: "alias", target: gone.id, done_at: null, deleted: 0 } });
    expect((await api("GET", `/v1/aliases/${gone.id}`)).status).toBe(404);
    await runScheduled(at);
    for (const id of only) expect((await api("GET", `/v1/messages/${id}`)).status).toBe(404);
    expect(await env.RAW.head(keyOfOnly)).toBeNull();
    expect((await api("GET", `/v1/messages/${shared}`)).status).toBe(200);
    const { purges } = await ok("GET", "/v1/retention");
    expect(purges.find((p: any) => p.id === purge.body.id)).toMatchObject({ deleted: 3, done_at: expect.any(String) });
    // Without purge, an alias's mail stays.
    expect((await api("DELETE", `/v1/aliases/${other.id}`)).status).toBe(204);
    expect((await api("GET", `/v1/messages/${shared}`)).status).toBe(200);
  });

  it("a retention changed after the mail arrived applies to the copies already stored", async () => {
    const at = clockedWorker();
    const domain = await setupDomain();
    const alias = await createAlias({ name: unique("later"), domain });
    const raw = mime({ From: "s@sender.example", To: alias.address, Subject: "Hi", "Message-ID": `<${unique("later")}@sender.example>` });
    await deliver({ to: alias.address, raw }, at);
    const message = await findMessage(/Message-ID: (<[^>]+>)/.exec(raw)![1]!);
    at.clock.advance(2 * DAY);
    await runScheduled(at);
    expect(await ok("GET", `/v1/messages/${message.id}`)).toMatchObject({ has_raw: true });
    await ok("PATCH", `/v1/aliases/${alias.id}`, { raw_retention_days: 1 });
    await runScheduled(at);
    expect(await ok("GET", `/v1/messages/${message.id}`)).toMatchObject({ has_raw: false });
  });

  it("an Idempotency-Key past its 24 hours is deleted; one within them still answers", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("plain", { from_filter: domain })]);
    const old = clockedWorker(Date.now() - 2 * DAY);
    const key = unique("idem");
    const body = { from: `sales@${domain}`, to: ["a@example.org"], subject: "Once", text: "x" };
    expect((await api("POST", "/v1/messages", body, undefined, { "Idempotency-Key": key }, old)).status).toBe(202);
    const fresh = unique("idem");
    expect((await api("POST", "/v1/messages", body, undefined, { "Idempotency-Key": fresh })).status).toBe(202);
    await runScheduled(clockedWorker());
    const keys = await env.DB.prepare("select key from idempotency_keys where key in (?, ?)").bind(key, fresh).all<{ key: string }>();
    expect(keys.results.map((k) => k.key)).toEqual([fresh]);
  });

  it("0 keeps forever; the settings show both", async () => {
    await withSettings({ raw_retention_days: 0, record_retention_days: 0 }, async () => {
      expect(await ok("GET", "/v1/settings")).toMatchObject({ raw_retention_days: 0, record_retention_days: 0 });
      const at = clockedWorker(Date.now() - 5000 * DAY);
      const domain = await setupDomain();
      const alias = await createAlias({ name: unique("forever"), domain });
      const raw = mime({ From: "old@sender.example", To: alias.address, Subject: "Old", "Message-ID": `<${unique("old")}@sender.example>` });
      await deliver({ to: alias.address, raw }, at);
      const message = await findMessage(/Message-ID: (<[^>]+>)/.exec(raw)![1]!);
      at.clock.advance(4999 * DAY);
      await runScheduled(at);
      expect(await ok("GET", `/v1/messages/${message.id}`)).toMatchObject({ has_raw: true });
    });
  });
});

async function rawKeyOf(id: string): Promise<string> {
  const row = await env.DB.prepare("select raw_key from messages where id = ?").bind(id).first<{ raw_key: string | null }>();
  return row?.raw_key ?? "";
}
