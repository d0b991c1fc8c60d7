/**
 * Erasure (issue 10): `DELETE /v1/messages/{id}` removes a message's content,
 * addresses and raw copy; the tombstone keeps the duplicate check (the
 * sender's retry of that very delivery is still recognised) and the thread
 * links (a reply still joins the thread).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createAlias, deliver, findMessage, messagesFor, mime, ok, onlyRelays, send, setupDomain, smtpRelay, unique } from "./helpers";

describe("erasure", () => {
  it("erases content, addresses and the raw copy; the duplicate check and the thread still hold", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: unique("support"), domain });
    const from = `${unique("mary")}@sender.example`;
    const messageId = `<${unique("erase")}@sender.example>`;
    const raw = mime({ From: `Mary <${from}>`, To: alias.address, Subject: "My private matter", "Message-ID": messageId });
    await deliver({ from, to: alias.address, raw });
    const message = await findMessage(messageId);
    const rawKey = (await env.DB.prepare("select raw_key from messages where id = ?").bind(message.id).first<{ raw_key: string }>())!.raw_key;
    expect(await env.RAW.head(rawKey)).not.toBeNull();

    expect((await api("DELETE", `/v1/messages/${message.id}`)).status).toBe(204);
    expect((await api("GET", `/v1/messages/${message.id}`)).status).toBe(404);
    expect((await api("GET", `/v1/messages/${message.id}/raw`)).status).toBe(404);
    expect(await env.RAW.head(rawKey)).toBeNull();
    expect(await messagesFor(messageId)).toEqual([]);
    expect((await api("DELETE", `/v1/messages/${message.id}`)).status).toBe(404);

    // The tombstone holds neither content nor addresses.
    const row = await env.DB.prepare("select * from messages where id = ?").bind(message.id).first<Record<string, unknown>>();
    expect(row).toMatchObject({ subject: null, from_name: null, mail_from: "", to: "[]", cc: "[]", raw_key: null, size: 0 });
    expect(String(row!.from_address)).toMatch(/^erased:[0-9a-f]{32}$/);
    expect(String(row!.rcpt_to)).toMatch(/^erased:[0-9a-f]{32}$/);
    expect(JSON.stringify(row)).not.toContain(from);
    const links = await env.DB.prepare("select sender from message_threads where message_id = ?").bind(message.id).all<{ sender: string }>();
    expect(links.results.map((l) => l.sender)).toEqual([row!.from_address]);
    expect(await env.DB.prepare("select count(*) as n from message_events where message_id = ?").bind(message.id).first<{ n: number }>()).toMatchObject({ n: 0 });

    // The sender retries the same delivery: still a duplicate, nothing recorded or routed again.
    await deliver({ from, to: alias.address, raw });
    expect(await messagesFor(messageId)).toEqual([]);

    // A reply to the erased message still joins its thread.
    const reply = mime({
      From: `Mary <${from}>`,
      To: alias.address,
      Subject: "Re: My private matter",
      "Message-ID": `<${unique("reply")}@sender.example>`,
      "In-Reply-To": messageId,
    });
    await deliver({ from, to: alias.address, raw: reply });
    const replied = await findMessage(/Message-ID: (<[^>]+>)/.exec(reply)![1]!);
    expect(replied.decision).toMatchObject({ reason: "routed", routes: [{ kind: "thread", thread_id: message.thread_id }] });

    // Another sender's message with that Message-ID is its own message, as before erasure.
    await deliver({ from: "other@elsewhere.example", to: alias.address, raw: raw.replace(`Mary <${from}>`, "Other <other@elsewhere.example>") });
    expect(await messagesFor(messageId)).toHaveLength(1);
  });

  it("a message still queued for sending is not erased (422); an unknown one is 404", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("plain", { from_filter: domain })]);
    const queued = await send({ from: `sales@${domain}`, to: ["someone@example.org"], subject: "Queued", text: "x" });
    expect((await api("DELETE", `/v1/messages/${queued.id}`)).status).toBe(422);
    expect(await ok("GET", `/v1/messages/${queued.id}`)).toMatchObject({ status: "queued" });
    expect((await api("DELETE", "/v1/messages/msg_missing")).status).toBe(404);
  });
});
