/**
 * Threads end to end, as Odoo's chatter works: mail to an alias notifies
 * the thread's followers through the outbound pipeline (a real SMTP server
 * on loopback receives the copies), a follower's reply comes back into the
 * thread and notifies the others, and auto-repliers cannot ping-pong.
 */
import { describe, expect, it } from "vitest";
import { createAlias, deliver, findMessage, messageIdOf, mime, ok, onlyRelays, runJobs, runSendJobs, setupDomain, smtpReceived, smtpRelay, unique, withSettings } from "./helpers";

/** Runs the notification of a delivered message, then sends what it queued; returns the notification messages. */
async function notify(messageId: string, rcpt: string): Promise<any[]> {
  const inbound = await findMessage(messageId, rcpt);
  const pending = inbound.deliveries.filter((d: any) => d.type === "notify" && d.status === "pending").map((d: any) => d.id);
  await runJobs("deliver", pending);
  const after = await findMessage(messageId, rcpt);
  const ids = after.events.filter((e: any) => e.type === "notify_delivered").flatMap((e: any) => e.detail.messages ?? []);
  if (ids.length) await runSendJobs(ids);
  return Promise.all(ids.map((id: string) => ok("GET", `/v1/messages/${id}`)));
}

/** A domain sending through the loopback SMTP server, and a support alias followed by two agents. */
async function helpdesk() {
  const domain = await setupDomain({ company_name: "Acme" });
  await onlyRelays([smtpRelay("plain", { from_filter: domain })]);
  const ann = `${unique("ann")}@example.org`;
  const bob = `${unique("bob")}@example.org`;
  const mary = `${unique("mary")}@example.org`;
  const alias = await createAlias({
    name: "support",
    domain,
    add_sender_as_follower: true,
    followers: [
      { email: ann, name: "Ann Agent" },
      { email: bob, name: "Bob Agent" },
    ],
  });
  return { domain, alias, ann, bob, mary, support: `support@${domain}` };
}

describe("follower notifications", () => {
  it("notifies the followers, then brings a follower's reply back into the thread and notifies the others", async () => {
    const { domain, alias, ann, bob, mary, support } = await helpdesk();
    const boundary = unique("b");
    const first = mime(
      {
        From: `"Mary Major" <${mary}>`,
        To: support,
        Subject: "Printer on fire",
        "MIME-Version": "1.0",
        "Content-Type": `multipart/mixed; boundary="${boundary}"`,
      },
      `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIt is on fire. Photo attached.\r\n--${boundary}\r\nContent-Type: image/png; name="fire.png"\r\nContent-Disposition: attachment; filename="fire.png"\r\nContent-Transfer-Encoding: base64\r\n\r\n${btoa("PNG bytes")}\r\n--${boundary}--\r\n`,
    );
    const firstId = messageIdOf(first);
    expect((await deliver({ from: mary, to: support, raw: first })).rejected).toBeNull();
    const threadId = (await findMessage(firstId, support)).thread_id;
    expect((await ok("GET", `/v1/threads/${threadId}`)).followers.map((f: any) => f.email).sort()).toEqual([ann, bob, mary].sort());

    const notifications = await notify(firstId, support);
    expect(notifications.map((n) => n.to[0].address).sort()).toEqual([ann, bob].sort());
    for (const n of notifications) expect(n).toMatchObject({ status: "sent", direction: "out", thread_id: threadId });
    expect(await smtpReceived(mary)).toEqual([]);

    const [toAnn] = await smtpReceived(ann);
    const py = toAnn.python;
    expect(py.defects).toEqual([]);
    expect(py.from).toEqual([{ name: "Mary Major", address: `notifications@${domain}` }]);
    expect(py.reply_to).toEqual([{ name: "Acme Printer on fire", address: support }]);
    expect(py.to).toEqual([{ name: "Ann Agent", address: ann }]);
    expect(py.subject).toBe("Printer on fire");
    expect(py.in_reply_to).toBe(firstId);
    expect(py.references).toContain(firstId);
    expect(py.headers).toEqual(expect.arrayContaining([["X-Mailgate-Message-Id", py.message_id]]));
    expect(py.parts.map((p: any) => [p.content_type, p.filename])).toEqual([
      ["text/plain", null],
      ["image/png", "fire.png"],
    ]);
    expect(py.parts[0].text).toContain("It is on fire.");
    expect(toAnn.mailFrom).toMatch(new RegExp(`^bounce\\+[0-9a-z]{26}-[0-9a-f]{10}@${domain.replace(/\./g, "\\.")}$`));

    // Ann answers the notification: her reply joins the thread and goes to Mary and Bob, not back to her.
    const reply = mime(
      {
        From: `"Ann Agent" <${ann}>`,
        To: `"Acme Printer on fire" <${support}>`,
        Subject: "Re: Printer on fire",
        "In-Reply-To": py.message_id,
        References: `${firstId} ${py.message_id}`,
      },
      "Unplug it.\r\n\r\nOn Sat, Mary wrote:\r\n> It is on fire.\r\n",
    );
    const replyId = messageIdOf(reply);
    expect((await deliver({ from: ann, to: support, raw: reply })).rejected).toBeNull();
    const stored = await findMessage(replyId, support);
    expect(stored.thread_id).toBe(threadId);
    expect(stored.decision.routes).toMatchObject([{ kind: "thread", thread_id: threadId }]);
    const second = await notify(replyId, support);
    expect(second.map((n) => n.to[0].address).sort()).toEqual([bob, mary].sort());
    expect(await smtpReceived(ann)).toHaveLength(1);
    const [toMary] = await smtpReceived(mary);
    expect(toMary.python.from).toEqual([{ name: "Ann Agent", address: `notifications@${domain}` }]);
    expect(toMary.python.in_reply_to).toBe(replyId);
    expect(toMary.python.references.split(/\s+/)).toEqual(expect.arrayContaining([firstId, replyId]));

    // Mary's answer to that notification also comes home, and reaches Ann and Bob.
    const answer = mime({ From: `"Mary Major" <${mary}>`, To: support, Subject: "Re: Printer on fire", "In-Reply-To": toMary.python.message_id });
    const answerId = messageIdOf(answer);
    await deliver({ from: mary, to: support, raw: answer });
    expect((await findMessage(answerId, support)).thread_id).toBe(threadId);
    expect((await notify(answerId, support)).map((n) => n.to[0].address).sort()).toEqual([ann, bob].sort());
    expect((await ok("GET", `/v1/aliases/${alias.id}`)).followers).toHaveLength(2);
  });

  it("threads each copy under its own message, even when later mail arrived before the queue ran", async () => {
    const { ann, mary, support } = await helpdesk();
    const first = mime({ From: mary, To: support, Subject: "Order 42" });
    const firstId = messageIdOf(first);
    await deliver({ from: mary, to: support, raw: first });
    const second = mime({ From: mary, To: support, Subject: "Re: Order 42", "In-Reply-To": firstId });
    const secondId = messageIdOf(second);
    await deliver({ from: mary, to: support, raw: second });
    await notify(firstId, support);
    await notify(secondId, support);
    const copies = (await smtpReceived(ann)).map((m) => m.python);
    expect(copies.map((c: any) => c.in_reply_to)).toEqual([firstId, secondId]);
    expect(copies[0].references).not.toContain(secondId);
  });

  it("does not copy followers who were among the recipients, nor suppressed ones, and notifies nobody for automatic mail", async () => {
    const { ann, bob, mary, support } = await helpdesk();
    await ok("POST", "/v1/contacts", { email: bob }, 201);
    await ok("PATCH", `/v1/contacts/${bob}`, { suppressed: true });
    const raw = mime({ From: mary, To: support, Cc: ann, Subject: "cc'd" });
    const id = messageIdOf(raw);
    await deliver({ from: mary, to: support, raw });
    expect(await notify(id, support)).toEqual([]);
    const inbound = await findMessage(id, support);
    expect(inbound.events.find((e: any) => e.type === "notify_delivered").detail).toMatchObject({ notified: [], suppressed: [bob] });

    const auto = mime({ From: mary, To: support, Subject: "Out of office", "Auto-Submitted": "auto-replied", "In-Reply-To": id });
    const autoId = messageIdOf(auto);
    expect((await deliver({ from: mary, to: support, raw: auto })).rejected).toBeNull();
    const stored = await findMessage(autoId, support);
    expect(stored.status).toBe("accepted");
    expect(stored.deliveries.filter((d: any) => d.type === "notify")).toEqual([]);
  });

  it("stops two auto-repliers answering each other's notifications with the loop guard", async () => {
    const { ann, bob, mary, support } = await helpdesk();
    await withSettings({ loop_threshold: 3, loop_minutes: 120 }, async () => {
      const opening = mime({ From: mary, To: support, Subject: "Storm" });
      const openingId = messageIdOf(opening);
      await deliver({ from: mary, to: support, raw: opening });
      let pending = [{ id: openingId }];
      // Replies into the thread, per sender (the opening mail counted against the alias, another target).
      const accepted: Record<string, number> = { [mary]: 0, [bob]: 0 };
      let refusal: string | null = null;
      // Mary and Bob answer every notification they get, without marking their answers automatic.
      for (let round = 0; round < 12 && pending.length && !refusal; round++) {
        const next: { id: string }[] = [];
        for (const message of pending) {
          for (const notification of await notify(message.id, support)) {
            const to = notification.to[0].address;
            if (to !== mary && to !== bob) continue;
            const bounceBack = mime({ From: to, To: support, Subject: "Re: Storm (I am away)", "In-Reply-To": notification.message_id });
            const result = await deliver({ from: to, to: support, raw: bounceBack });
            if (result.rejected) {
              refusal = result.rejected;
              break;
            }
            accepted[to]! += 1;
            next.push({ id: messageIdOf(bounceBack) });
          }
          if (refusal) break;
        }
        pending = next;
      }
      expect(refusal).toMatch(/too many times/);
      expect(Math.max(accepted[mary]!, accepted[bob]!)).toBe(3);
      // Ann, a human, got the opening mail and at most the threshold from each auto-replier.
      expect((await smtpReceived(ann)).length).toBeLessThanOrEqual(1 + 2 * 3);
    });
  });
});
