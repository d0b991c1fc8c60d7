/**
 * Follower notifications (Odoo's chatter at the edge): when mail enters a
 * thread, every follower except the author, and except those who were
 * already among its To/Cc (Odoo writes those on the message after posting,
 * so they are not notified twice), gets a copy through the outbound
 * pipeline: From rewritten to the author's name at the notifications
 * address, Reply-To the thread's alias or the catchall, References ending
 * with the message, attachments kept. One message per follower, as Odoo
 * sends one mail per recipient partner: nobody sees the other followers'
 * addresses, and a bounce names exactly one recipient.
 */
import { asc, eq } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Email } from "postal-mime";
import type { Db } from "../db/client";
import { ownAliasesQuery } from "../db/own-aliases";
import { followers, messages } from "../db/schema";
import type { Env } from "../env";
import { derivedId } from "../ids";
import { isOwnAddress } from "../mail/own-address";
import { parseMessage } from "../mail/parse";
import type { Mailbox } from "../model";
import type { OutboundAttachment } from "../outbound/compose";
import { type DraftContent, draftMessage, draftStatements, type PlanningRows, planningQueries, planThreadOf, storeDraftRaw, threadQueries } from "../outbound/draft";
import { mayPassLater, sendRefusalText } from "../outbound/refusals";
import { enqueue } from "../queue/enqueue";
import { suppressedAmong } from "../suppressions";
import type { DeliveryRow, Handled } from "./types";

/** Exchange and Outlook: do not answer notifications with out-of-office replies (Odoo sets the same on channel mail). */
const NOTIFICATION_HEADERS = { "X-Auto-Response-Suppress": "OOF, AutoReply" };

/**
 * The `notify` delivery handler (src/deliveries/run.ts): it drafts the
 * copies and answers their rows, which commit with the delivery's
 * settlement; the copies are queued only after that (`afterCommit`).
 */
export async function notifyFollowers(env: Env, db: Db, delivery: DeliveryRow, runAt: number): Promise<Handled> {
  const threadId = delivery.threadId;
  if (!threadId) return { outcome: { result: "failed", statusCode: null, error: "the delivery names no thread" } };
  const followersOfThread = db.select({ email: followers.email }).from(followers).where(eq(followers.threadId, threadId));
  const [messageRows, threadRows, threadKeys, followerRows, suppressedRows, ownAliases, relayRows, domainRows] = await db.batch([
    db
      .select({
        id: messages.id,
        messageId: messages.messageId,
        fromAddress: messages.fromAddress,
        fromName: messages.fromName,
        to: messages.to,
        cc: messages.cc,
        subject: messages.subject,
        rawKey: messages.rawKey,
      })
      .from(messages)
      .where(eq(messages.id, delivery.messageId)),
    ...threadQueries(db, threadId),
    db.select({ email: followers.email, name: followers.name }).from(followers).where(eq(followers.threadId, threadId)).orderBy(asc(followers.createdAt), asc(followers.email)),
    // Notifications are transactional mail: an unsubscribe from mass mail does not stop them.
    suppressedAmong(db, followersOfThread, "transactional"),
    ownAliasesQuery(db, followersOfThread),
    ...planningQueries(db),
  ]);
  const message = messageRows[0];
  // The alias that routed this message speaks for the thread: its address is the Reply-To, its domain the From's.
  const thread = planThreadOf(threadRows, threadKeys, delivery.aliasId);
  if (!message || !thread) return { outcome: { result: "failed", statusCode: null, error: "the message or its thread no longer exists" } };

  const alreadyHaveIt = new Set([message.fromAddress, ...message.to.map((m) => m.address), ...message.cc.map((m) => m.address)]);
  // Our own addresses are never notified (a copy would come straight back to us).
  const suppressed = new Set(suppressedRows.map((s) => s.email));
  const recipients = followerRows.filter((f) => !alreadyHaveIt.has(f.email) && !suppressed.has(f.email) && !isOwnAddress(f.email, domainRows, ownAliases));
  const skippedSuppressed = followerRows.filter((f) => suppressed.has(f.email)).map((f) => f.email);
  if (!recipients.length) {
    return { outcome: { result: "delivered", statusCode: null, error: null, detail: { notified: [], suppressed: skippedSuppressed } } };
  }

  const author: Mailbox = { name: message.fromName ?? "", address: message.fromAddress ?? "" };
  if (!author.address) return { outcome: { result: "failed", statusCode: null, error: "the message has no From address to notify in the name of" } };
  const object = message.rawKey ? await env.RAW.get(message.rawKey) : null;
  if (!object) throw new Error(`message ${message.id}: raw MIME missing in R2`);
  // A message that cannot be parsed or composed never will be: the delivery fails at once, with the reason.
  const read = await parseMessage(await object.arrayBuffer(), { attachmentEncoding: "base64" });
  if (!read.ok) return { outcome: { result: "failed", statusCode: null, error: read.reason } };
  const parsed = read.email;
  thread.messageIds = threadUpTo(thread.messageIds, message.messageId);
  const content = (to: Mailbox, attachments: OutboundAttachment[], note: string | null): DraftContent => ({
    author,
    to: [to],
    cc: [],
    bcc: [],
    replyTo: null,
    subject: message.subject ?? parsed.subject ?? "",
    text: note === null ? (parsed.text ?? null) : `${parsed.text ?? ""}\n\n${note}\n`,
    html: parsed.html ?? null,
    attachments,
    headers: NOTIFICATION_HEADERS,
    stream: "transactional",
  });

  const planning = [relayRows, domainRows] as PlanningRows;
  const now = delivery.createdAt.getTime();
  const at = new Date(runAt);
  const statements: BatchItem<"sqlite">[] = [];
  const ids: string[] = [];
  // One copy at a time, stored as soon as it is composed: only one is ever held in memory.
  for (const follower of recipients) {
    const to = { name: follower.name ?? "", address: follower.email };
    // The same ids when the queue runs this again: the rows are written once.
    const rowId = await derivedId("msg", now, `${delivery.id}:${follower.email}`);
    let attempt = content(to, attachmentsOf(parsed), null);
    let drafted = await draftMessage(env, planning, { rowId, now, content: attempt, thread });
    if (!drafted.ok && drafted.refusal.reason === "too_large" && parsed.attachments.length) {
      // Over the relay's limit with the attachments: send the words, and name what was left out.
      attempt = content(to, [], `[Attachments not included (too large for the relay): ${parsed.attachments.map((a) => a.filename ?? "unnamed").join(", ")}]`);
      drafted = await draftMessage(env, planning, { rowId, now, content: attempt, thread });
    }
    if (!drafted.ok) return { outcome: { result: mayPassLater(drafted.refusal) ? "retry" : "failed", statusCode: null, error: sendRefusalText(drafted.refusal) } };
    await storeDraftRaw(env, drafted.draft);
    statements.push(
      ...draftStatements(db, drafted.draft, {
        content: attempt,
        threadId,
        apiKeyId: null,
        at,
        decision: { reason: "notification", notification_of: message.id, delivery_id: delivery.id },
      }),
    );
    ids.push(rowId);
  }
  return {
    outcome: { result: "delivered", statusCode: null, error: null, detail: { notified: recipients.map((r) => r.email), messages: ids, suppressed: skippedSuppressed } },
    statements,
    afterCommit: () =>
      enqueue(
        env,
        ids.map((id) => ({ kind: "send", id })),
      ),
  };
}

/** The thread's ids up to this message, which ends them: the copy answers it, even when later mail came in first. */
function threadUpTo(ids: string[], messageId: string): string[] {
  const at = ids.indexOf(messageId);
  return at < 0 ? [...ids, messageId] : ids.slice(0, at + 1);
}

/** The message's attachments as the composer takes them; inline parts keep their Content-ID so `cid:` links still work. */
function attachmentsOf(parsed: Email): OutboundAttachment[] {
  return parsed.attachments.map((a) => ({
    filename: a.filename ?? "attachment",
    content: a.content as string,
    contentType: a.mimeType,
    ...(a.related && a.contentId ? { contentId: a.contentId } : {}),
  }));
}
