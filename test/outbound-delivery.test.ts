/**
 * Queued delivery: at least once but never twice for one queue redelivery,
 * daily limits, the dead-letter queue, the sweeper for lost queue messages,
 * and the Cloudflare Email Service relay (the local send_email binding).
 */
import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import worker from "../src/index";
import { ok, onlyRelays, runSendJobs, send, sendAndDeliver, setupDomain, smtpReceived, unique } from "./helpers";

const mail = inject("mail");


const plainSmtp = (fields: Record<string, unknown> = {}) => ({
  name: `smtp ${unique()}`,
  type: "smtp",
  config: { host: "127.0.0.1", port: mail.smtp.plain, security: "none" },
  ...fields,
});

describe("queued delivery", () => {
  it("a queue redelivery of a message already sent sends nothing", async () => {
    const domain = await setupDomain();
    await onlyRelays([plainSmtp()]);
    const rcpt = `${unique("once")}@example.org`;
    const { answer, message } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt], subject: "once", text: "x" });
    expect(message.status).toBe("sent");
    expect((await runSendJobs([answer.id], 2)).acked).toEqual([answer.id]);
    expect(await smtpReceived(rcpt)).toHaveLength(1);
    expect((await ok("GET", `/v1/messages/${answer.id}`)).attempts).toHaveLength(1);
  });

  it("two consumers given the same message at once: one sends, the other waits", async () => {
    const domain = await setupDomain();
    await onlyRelays([plainSmtp()]);
    const rcpt = `${unique("race")}@example.org`;
    const answer = await send({ from: `mary@${domain}`, to: [rcpt], subject: "race", text: "x" });
    const [a, b] = await Promise.all([runSendJobs([answer.id]), runSendJobs([answer.id])]);
    expect([...a.acked, ...b.acked]).toContain(answer.id);
    expect(await smtpReceived(rcpt)).toHaveLength(1);
    expect((await ok("GET", `/v1/messages/${answer.id}`)).status).toBe("sent");
  });

  it("a relay over its daily limit passes to the next matching relay", async () => {
    const domain = await setupDomain();
    const [limited, spare] = await onlyRelays([plainSmtp({ from_filter: domain, sequence: 1, daily_limit: 1 }), plainSmtp({ from_filter: domain, sequence: 2 })]);
    const first = await sendAndDeliver({ from: `mary@${domain}`, to: [`${unique("d1")}@example.org`], subject: "one", text: "x" });
    const second = await sendAndDeliver({ from: `mary@${domain}`, to: [`${unique("d2")}@example.org`], subject: "two", text: "x" });
    expect(first.message.relay_id).toBe(limited.id);
    expect(second.answer.relay.id).toBe(limited.id);
    expect(second.message).toMatchObject({ status: "sent", relay_id: spare.id });
  });

  it("with no other relay, the message waits for the next UTC day (never dropped)", async () => {
    const domain = await setupDomain();
    await onlyRelays([plainSmtp({ from_filter: domain, daily_limit: 1 })]);
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
    await onlyRelays([plainSmtp({ config: { host: "127.0.0.1", port: mail.smtp.starttls, security: "starttls", username: "user", password: "wrong" } })]);
    const answer = await send({ from: `mary@${domain}`, to: [`${unique("dlq")}@example.org`], subject: "doomed", text: "x" });
    await runSendJobs([answer.id]);
    expect((await runSendJobs([answer.id], 11, "mailgate-jobs-dlq")).acked).toEqual([answer.id]);
    const message = await ok("GET", `/v1/messages/${answer.id}`);
    expect(message).toMatchObject({ status: "failed", recipients: [{ status: "failed", last_error: "gave up: the queue ran out of retries" }] });
    expect(message.events.at(-1)).toMatchObject({ type: "failed", detail: { reason: "retries exhausted" } });
  });

  it("a message whose queue message was lost is queued again by the sweeper", async () => {
    const domain = await setupDomain();
    await onlyRelays([plainSmtp()]);
    // Queues fails when the API queues the job: the message is stored, the job is not.
    const broken = { ...env, JOBS: { send: async () => Promise.reject(new Error("queue unavailable")), sendBatch: env.JOBS.sendBatch.bind(env.JOBS) } };
    const response = await worker.fetch(
      new Request("https://mailgate.test/v1/messages", {
        method: "POST",
        headers: { Authorization: "Bearer test-admin-token", "Content-Type": "application/json" },
        body: JSON.stringify({ from: `mary@${domain}`, to: ["lost@example.org"], subject: "lost", text: "x" }),
      }),
      broken as unknown as typeof env,
      createExecutionContext(),
    );
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };

    const queued: string[] = [];
    const recording = { ...env, JOBS: { send: env.JOBS.send.bind(env.JOBS), sendBatch: async (batch: { body: { id: string } }[]) => void queued.push(...batch.map((m) => m.body.id)) } };
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now() + 5 * 60_000 }), recording as unknown as typeof env);
    expect(queued).not.toContain(id);
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now() + 11 * 60_000 }), recording as unknown as typeof env);
    expect(queued).toContain(id);
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
