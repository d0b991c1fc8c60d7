/**
 * Queued delivery: at least once but never twice for one queue redelivery,
 * daily limits, the dead-letter queue, the sweeper for lost queue messages,
 * and the Cloudflare Email Service relay (the local send_email binding).
 */
import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN, clockedWorker, ok, onlyRelays, queueSpy, runScheduled, runSendJobs, send, sendAndDeliver, setupDomain, smtpReceived, smtpRelay, unique } from "./helpers";

describe("queued delivery", () => {
  it("a queue redelivery of a message already sent sends nothing", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("plain")]);
    const rcpt = `${unique("once")}@example.org`;
    const { answer, message } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt], subject: "once", text: "x" });
    expect(message.status).toBe("sent");
    expect((await runSendJobs([answer.id], 2)).acked).toEqual([answer.id]);
    expect(await smtpReceived(rcpt)).toHaveLength(1);
    expect((await ok("GET", `/v1/messages/${answer.id}`)).attempts).toHaveLength(1);
  });

  it("two consumers given the same message at once: one sends, the other waits", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("plain")]);
    const rcpt = `${unique("race")}@example.org`;
    const answer = await send({ from: `mary@${domain}`, to: [rcpt], subject: "race", text: "x" });
    const [a, b] = await Promise.all([runSendJobs([answer.id]), runSendJobs([answer.id])]);
    expect([...a.acked, ...b.acked]).toContain(answer.id);
    expect(await smtpReceived(rcpt)).toHaveLength(1);
    expect((await ok("GET", `/v1/messages/${answer.id}`)).status).toBe("sent");
  });

  it("a relay over its daily limit passes to the next matching relay", async () => {
    const domain = await setupDomain();
    const [limited, spare] = await onlyRelays([smtpRelay("plain", { from_filter: domain, sequence: 1, daily_limit: 1 }), smtpRelay("plain", { from_filter: domain, sequence: 2 })]);
    const first = await sendAndDeliver({ from: `mary@${domain}`, to: [`${unique("d1")}@example.org`], subject: "one", text: "x" });
    const second = await sendAndDeliver({ from: `mary@${domain}`, to: [`${unique("d2")}@example.org`], subject: "two", text: "x" });
    expect(first.message.relay_id).toBe(limited.id);
    expect(second.answer.relay.id).toBe(limited.id);
    expect(second.message).toMatchObject({ status: "sent", relay_id: spare.id });
  });

  it("with no other relay, the message waits for the next UTC day (never dropped)", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("plain", { from_filter: domain, daily_limit: 1 })]);
    await sendAndDeliver({ from: `mary@${domain}`, to: [`${unique("d3")}@example.org`], subject: "one", text: "x" });
    const answer = await send({ from: `mary@${domain}`, to: [`${unique("d4")}@example.org`], subject: "two", text: "x" });
    expect((await runSendJobs([answer.id])).retried.map((r) => r.id)).toEqual([answer.id]);
    const message = await ok("GET", `/v1/messages/${answer.id}`);
    expect(message.status).toBe("queued");
    const waiting = message.events.at(-1);
    expect(waiting.type).toBe("daily_limit");
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    expect(waiting.detail.retry_in_seconds).toBeGreaterThan((midnight.getTime() - Date.now()) / 1000);
    expect(waiting.detail.retry_in_seconds).toBeLessThanOrEqual(86_460);
  });

  it("what runs out of retries reaches the dead-letter queue and is marked failed", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("starttls", {}, { username: "user", password: "wrong" })]);
    const answer = await send({ from: `mary@${domain}`, to: [`${unique("dlq")}@example.org`], subject: "doomed", text: "x" });
    await runSendJobs([answer.id]);
    expect((await runSendJobs([answer.id], 11, "mailgate-jobs-dlq")).acked).toEqual([answer.id]);
    const message = await ok("GET", `/v1/messages/${answer.id}`);
    expect(message).toMatchObject({ status: "failed", recipients: [{ status: "failed", last_error: "gave up: the queue ran out of retries" }] });
    expect(message.events.at(-1)).toMatchObject({ type: "failed", detail: { reason: "retries exhausted" } });
  });

  it("a message whose queue message was lost is queued again by the sweeper", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("plain")]);
    // The message was sent 16 minutes ago, while the queue was down: it is stored, its job is lost.
    const at = clockedWorker(Date.now() - 16 * 60_000);
    const down = queueSpy({ down: true });
    const { id } = await send({ from: `mary@${domain}`, to: ["lost@example.org"], subject: "lost", text: "x" }, ADMIN_TOKEN, { ...at, env: down.env });
    expect(down.ids).toEqual([id]);

    const up = queueSpy();
    at.clock.advance(5 * 60_000);
    await runScheduled(at, up.env);
    expect(up.ids).not.toContain(id);
    // Overdue now; but the queue is still down, and what the sweeper could not queue stays overdue.
    at.clock.advance(6 * 60_000);
    await runScheduled(at, down.env);
    expect(down.ids.filter((queued) => queued === id)).toHaveLength(2);
    at.clock.advance(5 * 60_000);
    await runScheduled(at, up.env);
    expect(up.ids).toContain(id);
  });
});

describe("Cloudflare Email Service relay", () => {
  it("sends through the send_email binding", async () => {
    const domain = await setupDomain();
    const [relay] = await onlyRelays([{ name: "email service", type: "cloudflare", from_filter: domain }]);
    const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: ["one@example.org", "two@example.org"], subject: "via Cloudflare", text: "x" });
    expect(message).toMatchObject({ status: "sent", relay_id: relay.id, recipients: [{ status: "sent" }, { status: "sent" }] });
    expect(message.attempts[0].provider_message_id).toBeTruthy();
  });
});
