/**
 * Reply detection and forward detection (Odoo's `message_route` steps 2, 4
 * and 5): References, else In-Reply-To, unfolded, the last 32 ids, exact
 * match on stored Message-IDs.
 */
import { describe, expect, it } from "vitest";
import { createAlias, deliver, findMessage, messageIdOf, mime, ok, setupDomain, smtpOutcome, unique } from "./helpers";

/** A domain with an alias and one conversation opened on it. */
async function conversation(aliasFields: Record<string, unknown> = {}) {
  const domain = await setupDomain();
  const alias = await createAlias({ name: "support", domain, ...aliasFields });
  const first = mime({ From: "mary@customer.example", To: `support@${domain}`, Subject: "Broken printer" });
  expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw: first }))).toBe("accepted");
  const opened = await findMessage(messageIdOf(first));
  return { domain, alias, messageId: messageIdOf(first), threadId: opened.thread_id as string };
}

describe("replies", () => {
  it("join the thread of the message named in In-Reply-To, even when sent to the catchall", async () => {
    const { domain, threadId, messageId } = await conversation();
    const reply = mime({ From: "mary@customer.example", To: `catchall@${domain}`, Subject: "Re: Broken printer", "In-Reply-To": messageId });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw: reply }))).toBe("accepted");
    const message = await findMessage(messageIdOf(reply));
    expect(message.decision.routes).toEqual([{ kind: "thread", route_key: `thread:${threadId}`, thread_id: threadId, alias_id: null }]);
    const inThread = await ok("GET", `/v1/threads/${threadId}/messages`);
    expect(inThread.items).toHaveLength(2);
  });

  it("find the thread through a References header whose ids are folded across lines", async () => {
    const { domain, threadId, messageId } = await conversation();
    const [local, host] = messageId.slice(1, -1).split("@");
    const folded = `<older@elsewhere.example>\r\n <${local}\r\n @${host}>`;
    const reply = mime({ From: "mary@customer.example", To: `catchall@${domain}`, References: folded });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw: reply }))).toBe("accepted");
    expect((await findMessage(messageIdOf(reply))).thread_id).toBe(threadId);
  });

  it("use References over In-Reply-To (Odoo: references or in_reply_to)", async () => {
    const { domain, messageId } = await conversation();
    const reply = mime({ From: "mary@customer.example", To: `catchall@${domain}`, References: "<unknown@elsewhere.example>", "In-Reply-To": messageId });
    const result = await deliver({ to: `catchall@${domain}`, raw: reply });
    expect(smtpOutcome(result)).toBe("rejected");
    expect((await findMessage(messageIdOf(reply))).decision.reason).toBe("catchall_direct");
  });

  it("look only at the last 32 ids of References", async () => {
    const { domain, threadId, messageId } = await conversation();
    const later = Array.from({ length: 32 }, (_, i) => `<later${i}@elsewhere.example>`);
    const tooOld = mime({ From: "mary@customer.example", To: `catchall@${domain}`, References: [messageId, ...later].join(" ") });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw: tooOld }))).toBe("rejected");
    const justInside = mime({ From: "mary@customer.example", To: `catchall@${domain}`, References: [messageId, ...later.slice(1)].join(" ") });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw: justInside }))).toBe("accepted");
    expect((await findMessage(messageIdOf(justInside))).thread_id).toBe(threadId);
  });

  it("skip ids marked as starting a new thread (reply_to)", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "support", domain });
    const markedId = `<${unique("n")}-openerp-reply_to@sender.example>`;
    const first = mime({ "Message-ID": markedId, From: "mary@customer.example", To: `support@${domain}` });
    expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw: first }))).toBe("accepted");
    const reply = mime({ From: "john@customer.example", To: `catchall@${domain}`, "In-Reply-To": markedId });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw: reply }))).toBe("rejected");
  });

  it("are delivered to the destinations of the thread's alias", async () => {
    const { domain, threadId, messageId } = await conversation({ destinations: [{ type: "store" }, { type: "forward", to: "team@company.example" }] });
    const reply = mime({ From: "mary@customer.example", To: `catchall@${domain}`, "In-Reply-To": messageId });
    const result = await deliver({ to: `catchall@${domain}`, raw: reply });
    expect(smtpOutcome(result)).toBe("accepted");
    expect(result.forwards.map((f) => f.to)).toEqual(["team@company.example"]);
    const message = await findMessage(messageIdOf(reply));
    expect(message.thread_id).toBe(threadId);
    expect(message.deliveries.map((d: any) => [d.type, d.status]).sort()).toEqual([
      ["forward", "delivered"],
      ["store", "delivered"],
    ]);
  });
});

describe("forward detection", () => {
  it("treats a reply written to an alias of another kind as new mail to that alias", async () => {
    const { domain, threadId, messageId } = await conversation();
    const sales = await createAlias({ name: "sales", domain });
    const forwarded = mime({ From: "agent@company.example", To: `sales@${domain}`, Subject: "Fwd: Broken printer", References: messageId });
    expect(smtpOutcome(await deliver({ to: `sales@${domain}`, raw: forwarded }))).toBe("accepted");
    const message = await findMessage(messageIdOf(forwarded));
    expect(message.decision.routes).toMatchObject([{ kind: "alias", alias_id: sales.id }]);
    expect(message.thread_id).not.toBe(threadId);
  });

  it("keeps a reply written to the thread's own alias in the thread", async () => {
    const { domain, alias, threadId, messageId } = await conversation();
    const reply = mime({ From: "mary@customer.example", To: `support@${domain}`, "In-Reply-To": messageId });
    expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw: reply }))).toBe("accepted");
    expect((await findMessage(messageIdOf(reply))).decision.routes).toEqual([{ kind: "thread", route_key: `thread:${threadId}`, thread_id: threadId, alias_id: alias.id }]);
  });

  it("ignores another alias in Cc (To beats Cc)", async () => {
    const { domain, threadId, messageId } = await conversation();
    await createAlias({ name: "sales", domain });
    const reply = mime({ From: "mary@customer.example", To: `catchall@${domain}`, Cc: `sales@${domain}`, "In-Reply-To": messageId });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw: reply }))).toBe("accepted");
    expect((await findMessage(messageIdOf(reply))).decision.routes).toMatchObject([{ kind: "thread", thread_id: threadId }]);
  });
});
