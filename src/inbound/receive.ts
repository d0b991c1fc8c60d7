/**
 * The `email()` handler: read the header block, look up what routing needs,
 * decide, then carry the decision out. What the sender sees follows from
 * the outcome alone:
 *
 * | outcome  | SMTP effect                                            |
 * | -------- | ------------------------------------------------------ |
 * | accepted | return normally                                        |
 * | refused  | `setReject(text)`: permanent 5xx with a human reason   |
 * | dropped  | return normally (the decision is recorded)             |
 * | our fault (D1, R2, a forward to retry, a bug)     | throw: temporary 4xx, the sender retries |
 *
 * Effects run in an order that makes the sender's retry safe: the loop
 * guard's claim (keyed by the delivery), then the raw mail in R2 (same key
 * on a retry), then one D1 batch that records everything, and only then
 * the forwards, whose outcome is recorded last.
 */

import { type Db, isUniqueViolation } from "../db/client";
import { storeFor } from "../db/store";
import type { Decision } from "../decision";
import type { Env } from "../env";
import { enqueueEventHooks } from "../events/hooks";
import { applyUnsubscribe, findUnsubscribeTarget, type UnsubscribeTarget } from "../events/unsubscribe";
import { domainOf } from "../mail/address";
import { bodyStart, parseHeaderBlock, readHeaderBlock, type SplitMessage } from "../mail/header-block";
import { messageIdOf, syntheticMessageId } from "../mail/message-id";
import { enqueue } from "../queue/enqueue";
import { unsubscribeTokenOf } from "../unsubscribe";
import { type BounceProcessing, processBounce } from "./bounce";
import { attemptForwards, recordForwardResults } from "./deliver";
import { type InboundMail, toInboundMail } from "./inbound-mail";
import { type Lookup, lookup } from "./lookup";
import { claimLoopSlots } from "./loop-guard";
import { rawKeyFor, storeRaw } from "./raw-store";
import { recordDecision } from "./record";
import { decide, loopRefusal, refusalText } from "./route";

/** What the pipeline reads of a message: Email Routing's, or one fetched from a mailbox (src/incoming/fetched-message.ts). */
export type InboundMessage = Pick<ForwardableEmailMessage, "raw" | "from" | "to" | "rawSize" | "setReject" | "forward" | "canBeForwarded">;

/** The decision as recorded, and the row it was recorded on (an earlier one when the sender retried). */
export interface Received {
  decision: Decision;
  messageRowId: string;
}

/** Thrown so the sender's server retries later; the message says why. */
export class TemporaryFailure extends Error {
  override name = "TemporaryFailure";
}

/** Routing attempts when a concurrent delivery of the same Message-ID took a route first. */
const MAX_ROUTING_ATTEMPTS = 3;
/** Claims of loop-guard slots when concurrent deliveries of the sender keep taking the last one. */
const MAX_LOOP_CLAIMS = 3;
/** The loop guard's target for reports that tie to nothing we sent. */
export const UNTIED_BOUNCE_ROUTE = "bounce";
/** The loop guard's target for mail to the unsubscribe address. */
export const UNSUBSCRIBE_ROUTE = "unsubscribe";

/**
 * The header block only; the body stays on the stream, to be stored or
 * cancelled. `email()` and POST /v1/route-test share it, so both see the
 * same facts.
 */
export async function readInboundMail(message: Pick<ForwardableEmailMessage, "raw" | "from" | "to" | "rawSize">): Promise<{ mail: InboundMail; split: SplitMessage }> {
  const split = await readHeaderBlock(message.raw);
  const headers = await parseHeaderBlock(split.header);
  const messageId = messageIdOf(headers.find((h) => h.key === "message-id")?.value) ?? (await syntheticMessageId(headers, bodyStart(split)));
  return { mail: toInboundMail(headers, { from: message.from, to: message.to }, messageId, message.rawSize), split };
}

/**
 * The work of `email()`, at the Worker's `now`, and of fetching a message
 * from the mailbox of incoming server `fetchedFrom`. A route taken by a
 * concurrent delivery of the same Message-ID (the unique index on
 * message_threads) makes it decide again.
 */
export async function receive(message: InboundMessage, env: Env, now: number, fetchedFrom: string | null = null): Promise<Received> {
  const { mail, split } = await readInboundMail(message);
  // Routing and recording read and write the store of the recipient's domain (one database today: src/db/store.ts).
  const db = storeFor(env, domainOf(message.to));
  const raw = new RawUpload(env.RAW, split, message.rawSize);
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await handle(message, mail, db, env, raw, now, fetchedFrom);
      } catch (error) {
        // Another delivery of the same Message-ID claimed a route between our lookup and our
        // record (the unique index on message_threads): decide again, it now sees that route taken.
        if (attempt < MAX_ROUTING_ATTEMPTS && isUniqueViolation(error, "message_threads")) continue;
        throw error;
      }
    }
  } finally {
    // The body of mail we do not store is never read: let go of it, or the stream's
    // producer waits on us forever (workerd reports the event as hung).
    if (!raw.started) await split.rest.cancel().catch(() => {});
  }
}

async function handle(message: InboundMessage, mail: InboundMail, db: Db, env: Env, raw: RawUpload, now: number, fetchedFrom: string | null): Promise<Received> {
  const found = await lookup(db, mail, now, env.SECRETS_KEY);
  let decision = decide(mail, found.data);
  // Mail to `unsubscribe+<token>@` is decided by its token, before aliases, replies and bounces are looked at.
  const unsubscribe = await unsubscribeRequest(env, db, mail, found, decision);
  if (unsubscribe) decision = unsubscribe.decision;
  if (decision.outcome === "accepted" && decision.reason === "unsubscribe") decision = await countIntoLoopGuard(db, mail, found, [UNSUBSCRIBE_ROUTE], decision, now);
  if (decision.outcome === "accepted" && decision.reason === "routed") {
    decision = await countIntoLoopGuard(
      db,
      mail,
      found,
      decision.routes.map((r) => r.route_key),
      decision,
      now,
    );
  }

  let rawKey = decision.outcome === "accepted" ? await raw.store(mail) : null;
  // A bounce is read from what was just stored, and its effects are recorded with it.
  let bounce: BounceProcessing | null = null;
  if (decision.outcome === "accepted" && decision.reason === "bounce" && rawKey) {
    bounce = await processBounce(env, db, mail, found.data.domains, rawKey, now);
    decision = { ...decision, bounce: bounce.summary };
    // A report about nothing we sent is mail like any other: its sender is counted, and refused past the threshold.
    if (!bounce.tied) decision = await countIntoLoopGuard(db, mail, found, [UNTIED_BOUNCE_ROUTE], decision, now);
    if (decision.outcome === "refused") {
      await raw.discard();
      rawKey = null;
      bounce = null;
    }
  }
  // Applied before the message is recorded: if recording fails, the sender's retry finds the event applied (a replay) and records it.
  if (decision.outcome === "accepted" && decision.reason === "unsubscribe" && unsubscribe?.target) await applyUnsubscribe(env, db, unsubscribe.target, "mail", now);
  // Fetched mail has no SMTP session to refuse it in: the refusal is recorded, and says so.
  if (decision.outcome === "refused" && fetchedFrom) decision = { ...decision, recorded_only: true };
  const recorded = await recordDecision(db, { mail, decision, data: found.data, rawKey, now, fetchedFrom, ...(bounce && { effects: bounce.statements }) });
  if (bounce) await enqueueEventHooks(env, db, bounce.eventKeys(recorded.messageRowId));
  // Webhooks and notifications run in the queue; recorded as due, so the sweeper catches a failed enqueue.
  await enqueue(
    env,
    recorded.queued.map((id) => ({ kind: "deliver", id })),
  );

  // Forwards: this message's new ones, and on a duplicate the ones an earlier attempt left undone.
  const forwards = decision.outcome === "dropped" && decision.reason === "duplicate" ? found.undone : recorded.forwards;
  if (forwards.length) {
    const results = await attemptForwards(message, forwards);
    try {
      await recordForwardResults(db, results, now);
    } catch (error) {
      // The forwards went out: throwing now would make the sender retry and forward them twice.
      console.error("mailgate: forwarded, but could not record the result", { message: recorded.messageRowId, error: String(error) });
    }
    const failed = results.filter((r) => r.retry);
    if (failed.length) throw new TemporaryFailure(`forward to ${failed.map((r) => r.forward.to).join(", ")} failed; will retry`);
  }

  if (decision.outcome === "refused") message.setReject(refusalText(decision));
  return { decision: recorded.decision, messageRowId: recorded.messageRowId };
}

/**
 * A fetched message above `limit` bytes, recorded as refused from its
 * header block alone (`message.raw` is just that; `rawSize` the whole
 * size): the body is never read, and the message stays in the mailbox.
 */
export async function recordTooLarge(
  message: Pick<ForwardableEmailMessage, "raw" | "from" | "to" | "rawSize">,
  env: Env,
  now: number,
  fetchedFrom: string,
  limit: number,
): Promise<Received> {
  const { mail, split } = await readInboundMail(message);
  await split.rest.cancel().catch(() => {});
  const db = storeFor(env, domainOf(message.to));
  const found = await lookup(db, mail, now, env.SECRETS_KEY);
  const decision: Decision = { outcome: "refused", reason: "too_large", size: message.rawSize, limit, recorded_only: true };
  const recorded = await recordDecision(db, { mail, decision, data: found.data, rawKey: null, now, fetchedFrom });
  return { decision: recorded.decision, messageRowId: recorded.messageRowId };
}

/**
 * Mail to our unsubscribe address (`unsubscribe+<token>@` a domain we
 * serve, the mailto form of List-Unsubscribe): accepted as `unsubscribe`
 * when the token verifies, else refused as `no_route`, as unknown mail is,
 * so a forged token learns nothing and changes nothing. The routing
 * decision stands for a hop-limit loop, a loop-bounce reply and a
 * duplicate (the sender retrying, or a copy of our own mail). Null when
 * the envelope recipient is not the unsubscribe address.
 */
async function unsubscribeRequest(
  env: Env,
  db: Db,
  mail: InboundMail,
  found: Lookup,
  decision: Decision,
): Promise<{ decision: Decision; target: UnsubscribeTarget | null } | null> {
  const token = unsubscribeTokenOf(mail.envelope.to, found.data.domains);
  if (token === null) return null;
  const stands = decision.reason === "hop_limit" || decision.reason === "loop_reply" || decision.reason === "duplicate";
  if (stands) return { decision, target: null };
  const target = await findUnsubscribeTarget(env.SECRETS_KEY, db, token);
  if (!target) return { decision: { outcome: "refused", reason: "no_route", recipient: mail.envelope.to }, target: null };
  return { decision: { outcome: "accepted", reason: "unsubscribe", original_id: target.messageId, recipient: target.recipient }, target };
}

/**
 * Counts an accepted message into the sender loop guard's targets before
 * anything is stored (src/inbound/loop-guard.ts). When concurrent messages
 * of the same sender took the last slots, the message is decided again
 * with the counts as they now are: refused, for a looping sender.
 */
async function countIntoLoopGuard(db: Db, mail: InboundMail, { data, loopDelivery: delivery }: Lookup, routeKeys: string[], decision: Decision, now: number): Promise<Decision> {
  const { sender } = mail;
  if (!sender) return decision;
  for (let attempt = 1; attempt <= MAX_LOOP_CLAIMS; attempt++) {
    const claim = await claimLoopSlots(db, {
      sender,
      routeKeys,
      delivery,
      threshold: data.settings.loopThreshold,
      windowMinutes: data.settings.loopMinutes,
      allowed: data.senderAllowed,
      now,
    });
    if (claim.counted) return decision;
    const looping = loopRefusal(mail, { ...data, loopCounts: claim.counts }, routeKeys);
    if (looping) return { outcome: "refused", ...looping };
    // The slot that held us back expired meanwhile: claim again.
  }
  throw new TemporaryFailure(`the loop guard could not count ${sender}; will retry`);
}

/** Uploads the raw message once, however many times routing is attempted. */
class RawUpload {
  private key: Promise<string> | null = null;

  get started(): boolean {
    return this.key !== null;
  }

  constructor(
    private readonly bucket: R2Bucket,
    private readonly split: SplitMessage,
    private readonly size: number,
  ) {}

  store(mail: InboundMail): Promise<string> {
    this.key ??= (async () => {
      const key = await rawKeyFor(mail.messageId, mail.envelope.to, mail.sender);
      await storeRaw(this.bucket, key, this.split, this.size);
      return key;
    })();
    return this.key;
  }

  /** Deletes what was stored for a message that ends up refused (best effort: an orphan costs only space). */
  async discard(): Promise<void> {
    if (!this.key) return;
    const key = await this.key;
    await this.bucket.delete(key).catch((error) => console.error("mailgate: could not delete a refused message's raw copy", { key, error: String(error) }));
  }
}
