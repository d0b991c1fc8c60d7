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
 * | our fault (D1, R2, KV, a forward to retry, a bug) | throw: temporary 4xx, the sender retries |
 *
 * Effects run in an order that makes the sender's retry safe: the loop
 * counter (idempotent per delivery), then the raw mail in R2 (same key on a
 * retry), then one D1 batch that records everything, and only then the
 * forwards, whose outcome is recorded last.
 */
import { type Db, database, isUniqueViolation } from "../db/client";
import type { Env } from "../env";
import { enqueue } from "../queue";
import { bodyStart, parseHeaderBlock, readHeaderBlock, type SplitMessage } from "../mail/header-block";
import { messageIdOf, syntheticMessageId } from "../mail/message-id";
import { type BounceProcessing, processBounce } from "./bounce";
import { attemptForwards, recordForwardResults } from "./deliver";
import { type InboundMail, toInboundMail } from "./inbound-mail";
import { type Lookup, lookup } from "./lookup";
import { countLoops, isKvRateLimited, readLoopState, writeLoopEntry } from "./loop-counter";
import { rawKeyFor, storeRaw } from "./raw-store";
import { recordDecision } from "./record";
import { type Decision, decide, refusalText } from "./route";

/** Thrown so the sender's server retries later; the message says why. */
export class TemporaryFailure extends Error {
  override name = "TemporaryFailure";
}

/** Routing attempts when a concurrent delivery of the same Message-ID took a route first. */
const MAX_ROUTING_ATTEMPTS = 3;
/** Attempts to write the loop counter when KV rate-limits the sender's key. */
const MAX_LOOP_WRITES = 3;

export async function readInboundMail(message: Pick<ForwardableEmailMessage, "raw" | "from" | "to" | "rawSize">): Promise<{ mail: InboundMail; split: SplitMessage }> {
  const split = await readHeaderBlock(message.raw);
  const headers = await parseHeaderBlock(split.header);
  const messageId = messageIdOf(headers.find((h) => h.key === "message-id")?.value) ?? (await syntheticMessageId(headers, bodyStart(split)));
  return { mail: toInboundMail(headers, { from: message.from, to: message.to }, messageId, message.rawSize), split };
}

export async function receive(message: ForwardableEmailMessage, env: Env, now = Date.now()): Promise<Decision> {
  const { mail, split } = await readInboundMail(message);
  const db = database(env.DB);
  const raw = new RawUpload(env.RAW, split, message.rawSize);
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await handle(message, mail, db, env, raw, now);
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

async function handle(message: ForwardableEmailMessage, mail: InboundMail, db: Db, env: Env, raw: RawUpload, now: number): Promise<Decision> {
  const found = await lookup(db, env.LOOP_KV, mail, now);
  let decision = decide(mail, found.data);
  if (decision.outcome === "accepted" && decision.reason === "routed") decision = await countIntoLoopGuard(env.LOOP_KV, mail, found, decision, now);

  const rawKey = decision.outcome === "accepted" ? await raw.store(mail) : null;
  // A bounce is read from what was just stored, and its effects are recorded with it.
  let bounce: BounceProcessing | null = null;
  if (decision.outcome === "accepted" && decision.reason === "bounce" && rawKey) {
    bounce = await processBounce(env, db, mail, found.data.domains, rawKey, now);
    decision = { ...decision, bounce: bounce.summary };
  }
  const recorded = await recordDecision(db, { mail, decision, data: found.data, rawKey, now, ...(bounce && { effects: bounce.statements }) });
  // Webhooks and notifications run in the queue; recorded as due, so the sweeper catches a failed enqueue.
  await enqueue(env, recorded.queued.map((id) => ({ kind: "deliver", id })));

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
  return recorded.decision;
}

/**
 * Counts the accepted routes into the sender's loop counter before anything
 * is stored. When KV rate-limits the write (a concurrent message of the
 * same sender wrote first), read the counter again and decide again.
 */
async function countIntoLoopGuard(kv: KVNamespace, mail: InboundMail, found: Lookup, decision: Decision & { reason: "routed" }, now: number): Promise<Decision> {
  const { data } = found;
  const { sender } = mail;
  // Allowed senders are counted too (Odoo counts their records); they are just never refused.
  if (!sender) return decision;
  let state = found.loopState ?? { entries: [] };
  let current: Decision = decision;
  for (let attempt = 1; ; attempt++) {
    if (current.outcome !== "accepted" || current.reason !== "routed") return current;
    try {
      await writeLoopEntry(kv, sender, state, { messageId: mail.messageId, rcptTo: mail.envelope.to }, current.routes, data.settings.loopMinutes, now);
      return current;
    } catch (error) {
      if (!isKvRateLimited(error) || attempt >= MAX_LOOP_WRITES) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000 + Math.random() * 500));
      state = await readLoopState(kv, sender);
      current = decide(mail, { ...data, loopCounts: countLoops(state, data.settings.loopMinutes, now) });
    }
  }
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
      const key = await rawKeyFor(mail.messageId, mail.envelope.to);
      await storeRaw(this.bucket, key, this.split, this.size);
      return key;
    })();
    return this.key;
  }
}
