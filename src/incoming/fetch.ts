/**
 * Fetching incoming mail servers (Odoo's "Fetchmail Service"). The cron
 * and `POST /v1/incoming-servers/{id}/fetch` queue a `fetch` job per
 * server; a job takes a lease on its server (one fetch at a time), logs in,
 * and takes up to FETCH_BATCH messages through the same pipeline as
 * `email()`; when more are waiting it queues the next job, so a mailbox of
 * any size drains across runs, each within the Worker's limits. A lost job
 * is replaced by the next cron.
 *
 * Nothing lost, nothing twice: a message is marked done on the server
 * (IMAP `\Seen` by UID; POP3 DELE, committed at QUIT) only after its record
 * is committed and noted in `incoming_fetched`. A run cut off between the
 * two finds the note next time and only marks the message; one cut off
 * before the note routes it again, and the pipeline's Message-ID check
 * drops the copy as the same delivery (the second line of defence).
 */
import { and, eq, isNull, lt, or, sql } from "drizzle-orm";
import { chunks, type Db, inJson } from "../db/client";
import { incomingFetched, incomingServers } from "../db/schema";
import type { Decision } from "../decision";
import type { Env } from "../env";
import { receive, recordTooLarge, TemporaryFailure } from "../inbound/receive";
import { parseHeaderBlock, readHeaderBlock } from "../mail/header-block";
import { accessToken, expireAccessToken, type OAuthSettings, tokenOwner } from "../oauth";
import { diagnoseTls } from "../outbound/relays/tls-diagnosis";
import { backoffSeconds } from "../queue/backoff";
import { enqueue } from "../queue/enqueue";
import type { FetchJob } from "../queue/jobs";
import { unseal } from "../secrets";
import { envelopeSenderOf } from "./envelope";
import { MailboxError, mailboxErrorText } from "./errors";
import { fetchedMessage } from "./fetched-message";
import { openImap } from "./imap";
import type { MailboxLogin, RemoteMailbox, RemoteMessage } from "./mailbox";
import { openPop3 } from "./pop3";
import { FETCH_BATCH, FETCH_LEASE_MS, MAX_FETCHED_BYTES, MAX_HEADER_BYTES } from "./settings";

export type IncomingServerRow = typeof incomingServers.$inferSelect;

/** The sealed credentials of a server: a password, or OAuth settings. */
export type IncomingCredentials = { password: string } | { oauth: OAuthSettings };

/** What one run did, shown as the server's `last_counts`. */
export interface FetchCounts {
  fetched: number;
  accepted: number;
  refused: number;
  dropped: number;
  /** Messages the pipeline could not take this run (left unread for the next). */
  failed: number;
  /** Still waiting in the mailbox after this run (too-large ones left there are not counted). */
  remaining: number;
}

const FETCH_BACKOFF = { firstSeconds: 30, maxSeconds: 3600 };
/** A run stops taking messages this long before its lease ends. */
const LEASE_MARGIN_MS = 2 * 60_000;
/** Messages failing one after the other: the store, not the messages, is at fault; the run stops. */
const FAILURES_IN_A_ROW = 3;
/** Known keys are looked up this many at a time (one bound JSON array each). */
const KNOWN_CHUNK = 1000;

/**
 * Logs in to a server's mailbox with its credentials: a password, or an
 * OAuth access token (fetched or cached; a cached one the server refuses is
 * dropped and a fresh one tried once, for a token revoked early).
 */
export async function openMailbox(env: Env, db: Db, server: IncomingServerRow, now: number, readOnly: boolean): Promise<{ mailbox: RemoteMailbox; uidValidity: number | null }> {
  const credentials = await unseal<IncomingCredentials>(env.SECRETS_KEY, server.secrets, "incoming-credentials");
  const address = { protocol: server.protocol, host: server.host, port: server.port, security: server.security, folder: server.folder };
  const open = (login: MailboxLogin) =>
    explainTls<{ mailbox: RemoteMailbox; uidValidity: number | null }>(server, server.protocol === "imap" ? openImap(address, login, { readOnly }) : openPop3(address, login));
  if ("password" in credentials) return open({ user: server.username, password: credentials.password });
  const owner = tokenOwner("incoming", server.id);
  for (let attempt = 1; ; attempt++) {
    const token = await accessToken(env, db, owner, credentials.oauth, server.protocol, now);
    if (!token.ok) throw new MailboxError("oauth", token.error);
    try {
      return await open({ user: server.username, accessToken: token.token });
    } catch (error) {
      if (attempt > 1 || !(error instanceof MailboxError) || error.fault !== "auth") throw error;
      await expireAccessToken(db, owner);
    }
  }
}

/**
 * With implicit TLS, the platform reports a failed handshake only as a
 * failed connection ("proxy request failed…"): after such a failure, ask
 * the server what went wrong (src/outbound/relays/tls-diagnosis.ts: an
 * untrusted issuer, a name mismatch, an expired certificate, a plaintext
 * port…), as SMTP relays do. A port that refuses connections stays a
 * connection error.
 */
async function explainTls<T>(server: IncomingServerRow, opening: Promise<T>): Promise<T> {
  try {
    return await opening;
  } catch (error) {
    // imap.ts names a failure "tls" from the platform's words alone; the diagnosis says which TLS failure it was.
    if (server.security !== "tls" || !(error instanceof MailboxError) || (error.fault !== "connect" && error.fault !== "tls")) throw error;
    const { cause, detail } = await diagnoseTls({ host: server.host, port: server.port, mode: "tls", helo: "localhost", timeoutMs: 10_000 });
    if (cause === "connect_failed") throw error;
    throw new MailboxError("tls", `TLS with ${server.host}:${server.port} (implicit TLS) failed: ${detail}`);
  }
}

/** The cron's part: a fetch job for every enabled server no run holds. Answers how many were queued. */
export async function requestFetches(env: Env, db: Db, now: number): Promise<number> {
  const due = await db
    .select({ id: incomingServers.id })
    .from(incomingServers)
    .where(and(eq(incomingServers.enabled, true), or(isNull(incomingServers.leaseUntil), lt(incomingServers.leaseUntil, new Date(now)))));
  if (!due.length) return 0;
  const queued = await enqueue(
    env,
    due.map(({ id }) => ({ kind: "fetch", id })),
  );
  if (!queued) return 0;
  for (const ids of chunks(due, KNOWN_CHUNK)) {
    await db
      .update(incomingServers)
      .set({ fetchRequestedAt: new Date(now) })
      .where(
        and(
          inJson(
            incomingServers.id,
            ids.map((r) => r.id),
          ),
          isNull(incomingServers.fetchRequestedAt),
        ),
      );
  }
  return due.length;
}

/**
 * The queue consumer for `fetch` jobs, one server after the other (each
 * holds a connection; Workers allow only a few at once). A mailbox's own
 * failures are recorded on the server and wait for the next cron; only our
 * own (D1, R2) make the queue retry the job.
 */
export async function runFetches(env: Env, db: Db, jobs: readonly Message<FetchJob>[], now: number): Promise<void> {
  const seen = new Set<string>();
  // The batch's `now` plus the time spent on the servers before: each run takes its lease at its own start.
  const started = Date.now();
  for (const job of jobs) {
    if (seen.has(job.body.id)) {
      job.ack();
      continue;
    }
    seen.add(job.body.id);
    try {
      await fetchServer(env, db, job.body.id, now + (Date.now() - started));
      job.ack();
    } catch (error) {
      console.error("mailgate: fetch run failed; the queue retries it", { server: job.body.id, error: String(error) });
      job.retry({ delaySeconds: backoffSeconds(job.attempts, FETCH_BACKOFF) });
    }
  }
}

/** One run on one server: claim it, fetch a batch, record how it went, queue the next run if more is waiting. */
export async function fetchServer(env: Env, db: Db, serverId: string, now: number): Promise<FetchCounts | null> {
  const lease = new Date(now + FETCH_LEASE_MS);
  const [server] = await db
    .update(incomingServers)
    .set({ leaseUntil: lease })
    .where(and(eq(incomingServers.id, serverId), eq(incomingServers.enabled, true), or(isNull(incomingServers.leaseUntil), lt(incomingServers.leaseUntil, new Date(now)))))
    .returning();
  // Disabled, deleted, or another run holds it (and will queue what follows).
  if (!server) return null;
  const counts: FetchCounts = { fetched: 0, accepted: 0, refused: 0, dropped: 0, failed: 0, remaining: 0 };
  let mailbox: RemoteMailbox | null = null;
  try {
    const opened = await openMailbox(env, db, server, now, false);
    mailbox = opened.mailbox;
    const firstFailure = await fetchBatch(env, db, server, opened, counts, now);
    await mailbox.close();
    mailbox = null;
    const failures = firstFailure && `${counts.failed} message(s) could not be taken and stay unread for the next run: ${firstFailure}`;
    // The request is done when nothing waits, or when nothing could be taken (no next run is queued: the cron asks again).
    await settle(db, server.id, lease, counts, failures, now, counts.remaining === 0 || counts.fetched === 0);
  } catch (error) {
    mailbox?.abort();
    // The mailbox's failures, and a message the pipeline asked to retry later (a forward that failed), wait for the next run.
    const ours = !(error instanceof MailboxError || error instanceof TemporaryFailure);
    // A request that failed on the mailbox's side is over (the next cron asks again); one the queue retries is not.
    await settle(db, server.id, lease, counts, mailboxErrorText(error), now, !ours).catch(() => {});
    if (ours) throw error;
    return counts;
  }
  // Only a run that took something queues the next at once: one that took nothing waits for the cron.
  if (counts.remaining > 0 && counts.fetched > 0) await enqueue(env, [{ kind: "fetch", id: server.id }]);
  return counts;
}

async function fetchBatch(
  env: Env,
  db: Db,
  server: IncomingServerRow,
  opened: { mailbox: RemoteMailbox; uidValidity: number | null },
  counts: FetchCounts,
  now: number,
): Promise<string | null> {
  const { mailbox, uidValidity } = opened;
  // A new UIDVALIDITY voids every UID noted under the old one (RFC 3501 2.3.1.1).
  if (uidValidity !== null && server.uidValidity !== uidValidity) {
    await db.batch([
      db.delete(incomingFetched).where(eq(incomingFetched.serverId, server.id)),
      db.update(incomingServers).set({ uidValidity }).where(eq(incomingServers.id, server.id)),
    ]);
  }
  const pending = await mailbox.pending();
  const known = await knownKeys(db, server.id, pending);
  const fresh: RemoteMessage[] = [];
  for (const message of pending) {
    const note = known.get(message.key);
    if (note === undefined) fresh.push(message);
    // Committed by a run that stopped before marking it: mark it now. One left in the mailbox stays as it is.
    else if (!note.left) await mailbox.done(message);
  }
  const batch = fresh.slice(0, FETCH_BATCH);
  const sizes = await mailbox.sizes(batch);
  let inARow = 0;
  let firstFailure: string | null = null;
  const started = Date.now();
  for (const message of batch) {
    // A run never outlives its lease (another could take the server): what is left goes to the next run.
    if (Date.now() - started > FETCH_LEASE_MS - LEASE_MARGIN_MS) break;
    try {
      const outcome = await takeMessage(env, db, server, mailbox, message, sizes.get(message.ref) ?? 0, now);
      counts.fetched++;
      counts[outcome]++;
      inARow = 0;
    } catch (error) {
      // The session itself failed: nothing more can be read.
      if (error instanceof MailboxError) throw error;
      // One message the pipeline could not take (a forward to retry, our store failing on it) stays unread for
      // the next run, and the others go on, as Odoo's fetchmail does; several in a row mean the store is down.
      counts.failed++;
      firstFailure ??= mailboxErrorText(error);
      if (++inARow >= FAILURES_IN_A_ROW) throw error;
    }
  }
  counts.remaining = fresh.length - counts.fetched;
  return firstFailure;
}

/**
 * One message through the pipeline: read it (or, too large, its header
 * block), hand it to `receive()` (or record it refused), note it, then
 * mark it on the server. Answers how it was decided.
 */
async function takeMessage(env: Env, db: Db, server: IncomingServerRow, mailbox: RemoteMailbox, message: RemoteMessage, size: number, now: number): Promise<Decision["outcome"]> {
  const tooLarge = size > MAX_FETCHED_BYTES;
  const bytes = tooLarge ? await mailbox.header(message, MAX_HEADER_BYTES) : await mailbox.raw(message, MAX_FETCHED_BYTES);
  const split = await readHeaderBlock(new Blob([bytes]).stream());
  await split.rest.cancel();
  const headers = await parseHeaderBlock(split.header);
  const envelope = { from: envelopeSenderOf(headers), to: server.deliverTo };
  const received = tooLarge
    ? await recordTooLarge({ ...envelope, raw: new Blob([bytes]).stream(), rawSize: size }, env, now, server.id, MAX_FETCHED_BYTES)
    : await receive(fetchedMessage(env, bytes, envelope), env, now, server.id);
  await db
    .insert(incomingFetched)
    .values({ serverId: server.id, uid: message.key, messageId: received.messageRowId, left: tooLarge, fetchedAt: new Date(now) })
    .onConflictDoNothing();
  // A message too large to take stays in the mailbox, unmarked, for a person to deal with.
  if (!tooLarge) await mailbox.done(message);
  return received.decision.outcome;
}

/** The keys of `pending` already noted, and whether each was left in the mailbox. */
async function knownKeys(db: Db, serverId: string, pending: RemoteMessage[]): Promise<Map<string, { left: boolean }>> {
  const known = new Map<string, { left: boolean }>();
  for (const part of chunks(pending, KNOWN_CHUNK)) {
    const rows = await db
      .select({ uid: incomingFetched.uid, left: incomingFetched.left })
      .from(incomingFetched)
      .where(
        and(
          eq(incomingFetched.serverId, serverId),
          inJson(
            incomingFetched.uid,
            part.map((m) => m.key),
          ),
        ),
      );
    for (const row of rows) known.set(row.uid, { left: row.left });
  }
  return known;
}

/** Records the run on the server and lets go of it, if the run still holds it (its lease did not run out). */
async function settle(db: Db, serverId: string, lease: Date, counts: FetchCounts, error: string | null, now: number, requestDone: boolean): Promise<void> {
  const at = new Date(now);
  await db
    .update(incomingServers)
    .set({
      leaseUntil: null,
      lastFetchAt: at,
      lastCounts: { ...counts },
      fetchedTotal: sql`${incomingServers.fetchedTotal} + ${counts.fetched}`,
      // Asked-for work is done when nothing waits or the mailbox failed; else the next run carries on with it.
      ...(requestDone && { fetchRequestedAt: null }),
      ...(error ? { lastError: error, lastErrorAt: at } : { lastError: null }),
      updatedAt: at,
    })
    .where(and(eq(incomingServers.id, serverId), eq(incomingServers.leaseUntil, lease)));
}
