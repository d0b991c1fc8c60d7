/**
 * Loop protection: Odoo's sender loop guard (KV counters), its
 * loop-detection bounce check, and what we add: a Received hop limit and
 * RFC 3834 automatic mail.
 */
import { describe, expect, it } from "vitest";
import { createAlias, deliver, findMessage, messageIdOf, mime, ok, setupDomain, smtpOutcome, unique, withSettings } from "./helpers";

async function sendMany(count: number, build: () => { to: string; raw: string }) {
  const outcomes: string[] = [];
  for (let i = 0; i < count; i++) {
    const { to, raw } = build();
    outcomes.push(smtpOutcome(await deliver({ to, raw })));
  }
  return outcomes;
}

describe("sender loop guard", () => {
  it("lets a sender put 20 messages into an alias within the window, and refuses the 21st", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "support", domain });
    const sender = `${unique("bot")}@robots.example`;
    const outcomes = await sendMany(20, () => ({ to: `support@${domain}`, raw: mime({ From: sender, To: `support@${domain}` }) }));
    expect(outcomes).toEqual(Array(20).fill("accepted"));

    const over = mime({ From: sender, To: `support@${domain}` });
    const result = await deliver({ to: `support@${domain}`, raw: over });
    expect(result.rejected).toBe(
      `The message could not be accepted by the address support@${domain} because you have contacted it too many times in the last 120 minutes. Please try again later.`,
    );
    expect((await findMessage(messageIdOf(over))).decision).toMatchObject({ reason: "sender_loop", count: 20 });

    // Another sender is counted on its own.
    const other = mime({ From: `${unique("human")}@people.example`, To: `support@${domain}` });
    expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw: other }))).toBe("accepted");
  });

  it("counts replies per thread, with the threshold from the settings", async () => {
    await withSettings({ loop_threshold: 3 }, async () => {
      const domain = await setupDomain();
      await createAlias({ name: "help", domain });
      const sender = `${unique("bot")}@robots.example`;
      const first = mime({ From: "mary@customer.example", To: `help@${domain}` });
      expect(smtpOutcome(await deliver({ to: `help@${domain}`, raw: first }))).toBe("accepted");
      const reply = () => ({ to: `catchall@${domain}`, raw: mime({ From: sender, To: `catchall@${domain}`, "In-Reply-To": messageIdOf(first) }) });
      expect(await sendMany(4, reply)).toEqual(["accepted", "accepted", "accepted", "rejected"]);
    });
  });

  it("exempts allowed senders", async () => {
    await withSettings({ loop_threshold: 2 }, async () => {
      const domain = await setupDomain();
      await createAlias({ name: "support", domain });
      const sender = `${unique("trusted")}@partner.example`;
      await ok("POST", "/v1/allowed-senders", { email: `Trusted <${sender.toUpperCase()}>` }, 201);
      const outcomes = await sendMany(4, () => ({ to: `support@${domain}`, raw: mime({ From: sender, To: `support@${domain}` }) }));
      expect(outcomes).toEqual(Array(4).fill("accepted"));
      await ok("DELETE", `/v1/allowed-senders/${sender}`, undefined, 204);
      expect(await sendMany(1, () => ({ to: `support@${domain}`, raw: mime({ From: sender, To: `support@${domain}` }) }))).toEqual(["rejected"]);
    });
  });

  it("refuses the whole message when one of its routes loops", async () => {
    await withSettings({ loop_threshold: 2 }, async () => {
      const domain = await setupDomain();
      await createAlias({ name: "a", domain });
      const b = await createAlias({ name: "b", domain });
      const sender = `${unique("bot")}@robots.example`;
      await sendMany(2, () => ({ to: `a@${domain}`, raw: mime({ From: sender, To: `a@${domain}` }) }));
      const both = mime({ From: sender, To: `b@${domain}, a@${domain}` });
      expect(smtpOutcome(await deliver({ to: `b@${domain}`, raw: both }))).toBe("rejected");
      expect((await ok("GET", `/v1/messages?alias_id=${b.id}`)).items).toHaveLength(0);
    });
  });
});

describe("header loop guards", () => {
  it("refuses mail with more than 50 Received headers (RFC 5321 6.3)", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "support", domain });
    const hops = (n: number) => Array.from({ length: n }, (_, i) => `from relay${i}.example by relay${i + 1}.example; Sat, 21 Nov 2026 10:00:00 +0000`);
    const fifty = mime({ Received: hops(50), From: "mary@customer.example", To: `support@${domain}` });
    expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw: fifty }))).toBe("accepted");
    const looping = mime({ Received: hops(51), From: "mary@customer.example", To: `support@${domain}` });
    const result = await deliver({ to: `support@${domain}`, raw: looping });
    expect(result.rejected).toContain("Mail loop detected");
    expect((await findMessage(messageIdOf(looping))).decision).toMatchObject({ reason: "hop_limit", received: 51 });
  });

  it("drops replies to Odoo loop-detection bounces before routing", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "support", domain });
    const raw = mime({
      From: "mary@customer.example",
      To: `support@${domain}`,
      References: "<1.2-openerp-loop-detection-bounce-email@odoo.example>",
    });
    const result = await deliver({ to: `support@${domain}`, raw });
    expect(smtpOutcome(result)).toBe("accepted");
    expect((await findMessage(messageIdOf(raw))).decision).toEqual({ outcome: "dropped", reason: "loop_reply" });
  });
});

describe("automatic mail (RFC 3834)", () => {
  it("never opens a thread on an alias that would answer it", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "tickets", domain, add_sender_as_follower: true });
    for (const headers of [{ "Auto-Submitted": "auto-replied" }, { Precedence: "bulk" }, { "List-Id": "<news.lists.example>" }, { "X-Autoreply": "yes" }]) {
      const raw = mime({ From: "robot@vacation.example", To: `tickets@${domain}`, ...headers });
      const result = await deliver({ to: `tickets@${domain}`, raw });
      expect(smtpOutcome(result)).toBe("accepted");
      const message = await findMessage(messageIdOf(raw));
      expect(message).toMatchObject({ status: "dropped", decision: { outcome: "dropped", reason: "automatic" }, thread_ids: [] });
    }
  });

  it("is routed normally to aliases that do not answer, and Auto-Submitted: no is human mail", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "archive", domain });
    const ticketsAlias = await createAlias({ name: "tickets", domain, add_sender_as_follower: true });
    const auto = mime({ From: "robot@vacation.example", To: `archive@${domain}`, "Auto-Submitted": "auto-generated (failure)" });
    expect((await deliver({ to: `archive@${domain}`, raw: auto })).rejected).toBeNull();
    expect((await findMessage(messageIdOf(auto))).status).toBe("accepted");

    const human = mime({ From: "Mary <mary@customer.example>", To: `tickets@${domain}`, "Auto-Submitted": "no" });
    expect(smtpOutcome(await deliver({ to: `tickets@${domain}`, raw: human }))).toBe("accepted");
    const message = await findMessage(messageIdOf(human));
    expect(message.decision.routes).toMatchObject([{ alias_id: ticketsAlias.id }]);
    // The alias adds the sender of new mail as a follower of the thread.
    const thread = await ok("GET", `/v1/threads/${message.thread_id}`);
    expect(thread.followers).toMatchObject([{ email: "mary@customer.example", name: "Mary" }]);
  });
});
