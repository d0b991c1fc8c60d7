/**
 * Inbound guarantees under concurrency and hostile input (issue 7, items
 * 10-12 and 14): the loop guard is exact when deliveries race, a forged
 * early copy of a Message-ID swallows nothing, reports about nothing we
 * sent are counted like other mail, and a delivery that can never succeed
 * fails at once with its reason.
 */
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import {
  api,
  clockedWorker,
  createAlias,
  deliver,
  findMessage,
  messageIdOf,
  messagesFor,
  mime,
  ok,
  runJobs,
  runScheduled,
  setupDomain,
  smtpOutcome,
  unique,
  withSettings,
} from "./helpers";

const DAY = 24 * 3600_000;

describe("the loop guard is exact under concurrency (item 12)", () => {
  it("40 concurrent deliveries from one sender into one alias, threshold 5: exactly 5 accepted, 35 refused with sender_loop", async () => {
    await withSettings({ loop_threshold: 5 }, async () => {
      const domain = await setupDomain();
      const alias = await createAlias({ name: "support", domain });
      const sender = `${unique("burst")}@robots.example`;
      const raws = Array.from({ length: 40 }, (_, i) => mime({ From: sender, To: alias.address, Subject: `Burst ${i}` }));
      const results = await Promise.all(raws.map((raw) => deliver({ to: alias.address, raw })));
      const outcomes = results.map(smtpOutcome);
      expect(outcomes.filter((o) => o === "temporary_failure")).toEqual([]);
      expect(outcomes.filter((o) => o === "accepted")).toHaveLength(5);
      expect(outcomes.filter((o) => o === "rejected")).toHaveLength(35);
      expect(new Set(results.filter((r) => r.rejected).map((r) => r.rejected))).toEqual(
        new Set([
          `The message could not be accepted by the address ${alias.address} because you have contacted it too many times in the last 120 minutes. Please try again later.`,
        ]),
      );
      const recorded = await Promise.all(raws.map(async (raw) => (await messagesFor(messageIdOf(raw)))[0].decision));
      expect(recorded.filter((d) => d.reason === "sender_loop")).toHaveLength(35);
      expect(recorded.filter((d) => d.reason === "routed")).toHaveLength(5);
      expect((await ok("GET", `/v1/threads?alias_id=${alias.id}&limit=100`)).items).toHaveLength(5);
    });
  });

  it("senders and targets are counted apart: a burst to another alias, or from another sender, is not held back", async () => {
    await withSettings({ loop_threshold: 3 }, async () => {
      const domain = await setupDomain();
      const one = await createAlias({ name: "one", domain });
      const two = await createAlias({ name: "two", domain });
      const sender = `${unique("a")}@robots.example`;
      const burst = (to: string, from: string, n: number) => Promise.all(Array.from({ length: n }, () => deliver({ to, raw: mime({ From: from, To: to }) })));
      const results = await Promise.all([burst(one.address, sender, 6), burst(two.address, sender, 6), burst(one.address, `${unique("b")}@robots.example`, 6)]);
      expect(results.map((r) => r.filter((x) => smtpOutcome(x) === "accepted").length)).toEqual([3, 3, 3]);
    });
  });
});

describe("the loop guard's table stays small", () => {
  it("the scheduled sweeper deletes entries no window can count any more (older than a week), and keeps the rest", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: "support", domain });
    const sender = `${unique("old")}@robots.example`;
    // Mail from the sender 8 days, 6 days and a minute before the sweeper runs.
    const at = clockedWorker(Date.now() - 8 * DAY);
    const arrived: number[] = [];
    for (const wait of [0, 2 * DAY, 6 * DAY - 60_000]) {
      at.clock.advance(wait);
      const raw = mime({ From: sender, To: alias.address });
      expect(smtpOutcome(await deliver({ from: sender, to: alias.address, raw }, at))).toBe("accepted");
      arrived.push(Date.parse((await findMessage(messageIdOf(raw))).created_at));
    }
    at.clock.advance(60_000);
    await runScheduled(at);
    const left = await env.DB.prepare("select at from loop_entries where sender = ? order by at").bind(sender).all<{ at: number }>();
    expect(left.results.map((r) => r.at)).toEqual(arrived.slice(1));
  });
});

describe("a forged early copy cannot swallow real mail (item 10)", () => {
  it("the same Message-ID from another sender is accepted as a message of its own, recorded as a collision", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: "sales", domain });
    const predictable = `<order-1001.${unique()}@shop.example>`;
    const forged = mime({ "Message-ID": predictable, From: "mallory@evil.example", To: alias.address, Subject: "first!" });
    const real = mime({ "Message-ID": predictable, From: "Shop <orders@shop.example>", To: alias.address, Subject: "Your order 1001" });
    expect(smtpOutcome(await deliver({ from: "mallory@evil.example", to: alias.address, raw: forged }))).toBe("accepted");
    expect(smtpOutcome(await deliver({ from: "orders@shop.example", to: alias.address, raw: real }))).toBe("accepted");

    const rows = await messagesFor(predictable);
    expect(rows.map((r) => [r.from.address, r.decision.reason])).toEqual([
      ["orders@shop.example", "routed"],
      ["mallory@evil.example", "routed"],
    ]);
    const [realRow, forgedRow] = rows;
    expect(realRow.decision.message_id_collision).toEqual([forgedRow.id]);
    expect(realRow.thread_id).not.toBe(forgedRow.thread_id);
    // Each kept its own raw copy.
    expect((await api("GET", `/v1/messages/${realRow.id}/raw`)).body).toContain("Your order 1001");
    expect((await api("GET", `/v1/messages/${forgedRow.id}/raw`)).body).toContain("first!");

    // The real sender retrying is still its own duplicate; so is the forger retrying.
    expect(smtpOutcome(await deliver({ from: "orders@shop.example", to: alias.address, raw: real }))).toBe("accepted");
    expect(smtpOutcome(await deliver({ from: "mallory@evil.example", to: alias.address, raw: forged }))).toBe("accepted");
    const after = await messagesFor(predictable);
    expect(after.filter((r) => r.decision.reason === "routed")).toHaveLength(2);
    expect((await ok("GET", `/v1/threads?alias_id=${alias.id}`)).items).toHaveLength(2);
  });

  it("copies of mail we sent stay duplicates whoever sends them back", async () => {
    const domain = await setupDomain();
    await ok("POST", "/v1/relays", { name: unique("cf"), type: "cloudflare", from_filter: domain }, 201);
    const sent = await ok("POST", "/v1/messages", { from: `mary@${domain}`, to: ["someone@example.org"], subject: "Ours", text: "x" }, 202);
    const copy = mime({ "Message-ID": sent.message_id, From: "anyone@elsewhere.example", To: `catchall@${domain}` });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw: copy }))).toBe("accepted");
    expect((await findMessage(sent.message_id, `catchall@${domain}`)).decision).toMatchObject({ outcome: "dropped", reason: "duplicate", duplicate_of: sent.id });
  });
});

describe("bounces are not a free pass (item 11)", () => {
  const report = (to: string, recipient: string, original = `<${unique("orig")}@elsewhere.example>`) =>
    mime(
      {
        From: "Mail Delivery System <MAILER-DAEMON@mx.flood.example>",
        To: to,
        Subject: "Undelivered Mail Returned to Sender",
        "Content-Type": 'multipart/report; report-type=delivery-status; boundary="r"',
      },
      [
        "--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.flood.example\r\n\r\n",
        `Final-Recipient: rfc822; ${recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n`,
        `--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: ${original}\r\nSubject: x\r\n\r\n--r--\r\n`,
      ].join(""),
    );

  it("reports that tie to nothing we sent are counted per sender and refused past the threshold", async () => {
    await withSettings({ loop_threshold: 5 }, async () => {
      const domain = await setupDomain();
      const raws = Array.from({ length: 8 }, (_, i) => report(`bounce@${domain}`, `nobody${i}@victim.example`));
      const outcomes = [];
      for (const raw of raws) outcomes.push(smtpOutcome(await deliver({ from: "", to: `bounce@${domain}`, raw })));
      expect(outcomes).toEqual(["accepted", "accepted", "accepted", "accepted", "accepted", "rejected", "rejected", "rejected"]);
      const last = await findMessage(messageIdOf(raws[7]!));
      expect(last.decision).toMatchObject({ outcome: "refused", reason: "sender_loop", route_key: "bounce", count: 5 });
      expect(last.has_raw).toBe(false);
      expect((await findMessage(messageIdOf(raws[0]!))).decision).toMatchObject({ outcome: "accepted", reason: "bounce", bounce: { kind: "bounce", original_id: null } });
    });
  });

  it("reports about mail we sent are never held back, however many come from one reporting server", async () => {
    await withSettings({ loop_threshold: 2 }, async () => {
      const domain = await setupDomain();
      await ok("POST", "/v1/relays", { name: unique("cf"), type: "cloudflare", from_filter: domain }, 201);
      const outcomes = [];
      for (let i = 0; i < 5; i++) {
        const rcpt = `${unique("gone")}@victim.example`;
        const sent = await ok("POST", "/v1/messages", { from: `mary@${domain}`, to: [rcpt], subject: "x", text: "x" }, 202);
        outcomes.push(smtpOutcome(await deliver({ from: "", to: `bounce@${domain}`, raw: report(`bounce@${domain}`, rcpt, sent.message_id) })));
        expect((await ok("GET", `/v1/messages/${sent.id}`)).recipients[0].status).toBe("bounced");
      }
      expect(outcomes).toEqual(["accepted", "accepted", "accepted", "accepted", "accepted"]);
    });
  });
});

describe("deliveries that can never succeed fail at once (item 14)", () => {
  it("a message nested beyond the MIME parser's limit: its webhook and notification fail on the first run, with the reason", async () => {
    const domain = await setupDomain();
    const follower = `${unique("f")}@example.org`;
    const alias = await createAlias({
      name: "deep",
      domain,
      followers: [{ email: follower }],
      destinations: [{ type: "store" }, { type: "webhook", url: `${inject("mail").control}/hooks/${unique("deep")}` }],
    });
    let body = "innermost\r\n";
    for (let depth = 300; depth > 0; depth--) body = `--b${depth}\r\nContent-Type: multipart/mixed; boundary=b${depth + 1}\r\n\r\n${body}--b${depth}--\r\n`;
    const raw = mime({ From: "nester@example.net", To: alias.address, "Content-Type": "multipart/mixed; boundary=b1" }, body);
    expect(smtpOutcome(await deliver({ to: alias.address, raw }))).toBe("accepted");
    const message = await findMessage(messageIdOf(raw));
    const queued = message.deliveries.filter((d: any) => d.type !== "store");
    const { retried } = await runJobs(
      "deliver",
      queued.map((d: any) => d.id),
    );
    expect(retried).toEqual([]);
    const after = await findMessage(messageIdOf(raw));
    for (const delivery of after.deliveries.filter((d: any) => d.type !== "store")) {
      expect(delivery).toMatchObject({ status: "failed", attempts: 1, next_attempt_at: null });
      expect(delivery.last_error).toMatch(/cannot be parsed: Maximum MIME nesting depth of \d+ levels exceeded/);
    }
  });
});
