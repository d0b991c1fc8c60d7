/**
 * What a bounce changes (Odoo's `_routing_handle_bounce` and the mass
 * mailing blacklist rule, shared/reference/odoo-gateway.md 3.2-3.4), read
 * by src/inbound/bounce-report/ from the stored message.
 *
 * A report acts only on mail we sent: the message its signed VERP address
 * names, else the one whose Message-ID its embedded original (or its own
 * References) carries, and only for that message's recipients. So a stray
 * report, or one forged by someone who never got that message, changes
 * nothing, and a VERP token whose signature does not verify changes nothing
 * at all. (A recipient knows both; notifications go one per follower, so
 * only API sends to several people share them.) Then, per recipient:
 *
 * - failed: the recipient and the message become `bounced`, the contact's
 *   counter goes up, and the contact is suppressed after a hard bounce
 *   (the mailbox or domain does not exist), or after 5 bounces within 13
 *   weeks whose first and last are more than a week apart while its counter
 *   is at 5 or more (normal mail from it resets the counter);
 * - delayed or delivered: recorded on the message, never counted;
 * - a feedback (ARF) report suppresses the complaining recipient;
 * - an auto-reply is recorded on the message, never counted.
 */
import { and, desc, eq } from "drizzle-orm";
import { type Db, inJson } from "../db/client";
import { messageEvents, messages, outboundRecipients } from "../db/schema";
import type { BounceSummary } from "../decision";
import type { Env } from "../env";
import { eventStatements, type StandingRows, type Statement, standingOf, standingQueries, suppressionFor } from "../events/apply";
import { domainOf, localPartOf } from "../mail/address";
import { verifyVerpToken } from "../mail/verp";
import { type BounceReport, MAX_REPORT_BYTES, type ReportedRecipient, readBounceReport } from "./bounce-report";
import type { InboundMail } from "./inbound-mail";
import type { DomainInfo } from "./route";

/**
 * What a refusal given at once (SMTP 5.1.x at RCPT or DATA, a provider's
 * inactive recipient) changes: the same as that status in a DSN, through
 * the same event effects (src/events/apply.ts), learned from `smtp`. (The
 * recipient itself is already `failed`.)
 */
export async function refusalEffects(
  db: Db,
  originalId: string,
  refused: { address: string; status: string | null; hard: boolean; diagnostic: string | null }[],
  now: number,
): Promise<Statement[]> {
  const at = new Date(now);
  const rows = await db.batch(
    standingQueries(
      db,
      refused.map((r) => r.address),
      now,
    ),
  );
  return refused.flatMap((r) => {
    const effects = eventStatements(
      db,
      {
        messageId: originalId,
        recipient: r.address,
        kind: "bounced",
        status: r.status,
        diagnostic: r.diagnostic,
        hard: r.hard,
        source: "smtp",
        relayId: null,
        dedupeKey: `smtp:${originalId}:${r.address}`,
        occurredAt: now,
        providerSuppressed: false,
        stream: null,
      },
      standingOf(r.address, rows as unknown as StandingRows),
      now,
    );
    return [
      ...effects.statements,
      db.insert(messageEvents).values({
        messageId: originalId,
        type: "bounced",
        detail: {
          recipient: r.address,
          status: r.status,
          diagnostic: r.diagnostic,
          hard: r.hard,
          learned_from: "smtp",
          ...(effects.suppressed && { suppressed: effects.suppressed }),
        },
        createdAt: at,
      }),
    ];
  });
}

/** A DSN's event for one recipient, keyed by the report's own row: reading the same report again changes nothing twice. */
const dsnEventKey = (reportRowId: string, recipient: string) => `dsn:${reportRowId}:${recipient}`;

export interface BounceProcessing {
  summary: BounceSummary;
  /** Whether the report is about a recipient of mail we sent (else its sender is counted by the loop guard). */
  tied: boolean;
  /** The rows that carry the effects out, written with the report's own record (one transaction). */
  statements: (reportRowId: string) => Statement[];
  /** The keys of the recipient events those rows record, for queueing their event hooks once written. */
  eventKeys: (reportRowId: string) => string[];
}

/** The token of our VERP address among the recipients (`bounce+<token>@domain`), if any. */
export function verpTokenOf(recipients: string[], domains: DomainInfo[]): string | null {
  for (const address of recipients) {
    const domain = domains.find((d) => d.name === domainOf(address));
    const local = localPartOf(address);
    if (domain && local.startsWith(`${domain.bounce}+`)) return local.slice(domain.bounce.length + 1);
  }
  return null;
}

/** The message row a VERP recipient names, when its signature verifies. */
export async function checkVerp(secretsKey: string | undefined, mail: InboundMail, domains: DomainInfo[]): Promise<{ verp: BounceSummary["verp"]; verpId: string | null }> {
  const token = verpTokenOf(mail.to, domains);
  const verpId = token ? await verifyVerpToken(secretsKey, token) : null;
  return { verp: token ? (verpId ? "valid" : "invalid") : null, verpId };
}

/** The start of the stored message: all a report needs (its original may follow, truncated). */
async function reportBytes(bucket: R2Bucket, rawKey: string): Promise<Uint8Array> {
  const object = await bucket.get(rawKey, { range: { offset: 0, length: MAX_REPORT_BYTES } });
  if (!object) throw new Error(`bounce ${rawKey}: raw MIME missing in R2`);
  return new Uint8Array(await object.arrayBuffer());
}

/** What a report says, before any effect (route-test shows this much). */
export function summarize(report: BounceReport, verp: BounceSummary["verp"], original: { id: string; messageId: string } | null): BounceSummary {
  const first = report.recipients[0];
  return {
    kind: report.kind,
    recipient: first?.recipient ?? null,
    status: first?.status ?? null,
    diagnostic: first?.diagnostic ?? null,
    original_message_id: original?.messageId ?? report.originalMessageIds[0] ?? null,
    original_id: original?.id ?? null,
    verp,
    recipients: report.recipients.map((r) => ({ recipient: r.recipient, action: r.action, status: r.status, diagnostic: r.diagnostic, remote_mta: r.remoteMta, hard: r.hard })),
    feedback_type: report.feedbackType,
    effects: { bounced: [], counted: [], suppressed: [], delayed: [] },
  };
}

/**
 * Reads the stored report (its first MAX_REPORT_BYTES) and ties it to mail
 * we sent. The effects come back as statements that recordDecision writes
 * with the report's own row.
 */
export async function processBounce(env: Env, db: Db, mail: InboundMail, domains: DomainInfo[], rawKey: string, now: number): Promise<BounceProcessing> {
  const report = await readBounceReport(await reportBytes(env.RAW, rawKey));
  const { verp, verpId } = await checkVerp(env.SECRETS_KEY, mail, domains);
  const nothing = (original: { id: string; messageId: string } | null = null): BounceProcessing => ({
    summary: summarize(report, verp, original),
    tied: false,
    statements: () => [],
    eventKeys: () => [],
  });
  if (verp === "invalid" || report.kind === null) return nothing();

  // The message it is about: the VERP one, else the newest of ours among the ids it names.
  const ids = [...report.originalMessageIds, ...mail.replyIds];
  const original = await db
    .select({ id: messages.id, messageId: messages.messageId })
    .from(messages)
    .where(and(eq(messages.direction, "out"), verpId ? eq(messages.id, verpId) : inJson(messages.messageId, ids)))
    .orderBy(desc(messages.id))
    .get();
  if (!original) return nothing();

  // Its recipients, with the contact and the recent bounces of each, in one round trip.
  const recipientsOfOriginal = db.select({ address: outboundRecipients.address }).from(outboundRecipients).where(eq(outboundRecipients.messageId, original.id));
  const [recipientRows, ...standing] = await db.batch([recipientsOfOriginal, ...standingQueries(db, recipientsOfOriginal, now)]);
  const ours = new Set(recipientRows.map((r) => r.address));
  // Odoo: when the report names nobody we sent to but the message had one recipient, it is about that one.
  const only = recipientRows.length === 1 ? recipientRows[0]!.address : null;
  const reported: ReportedRecipient[] = report.recipients.length
    ? report.recipients
    : [{ recipient: "", action: null, status: null, diagnostic: null, remoteMta: null, hard: false }];
  const matched = new Map<string, ReportedRecipient>();
  for (const r of reported) {
    const address = ours.has(r.recipient) ? r.recipient : only;
    if (address && !matched.has(address)) matched.set(address, { ...r, recipient: address });
  }
  const summary = summarize(report, verp, original);
  if (!matched.size) return { summary, tied: false, statements: () => [], eventKeys: () => [] };
  const keyed: string[] = [];
  const at = new Date(now);

  const effects = summary.effects;
  const build: ((reportRowId: string) => Statement[])[] = [];
  const event = (type: string, detail: Record<string, unknown>) => (reportRowId: string) => [
    db.insert(messageEvents).values({ messageId: original.id, type, detail: { ...detail, report_id: reportRowId }, createdAt: at }),
  ];
  // The same effects as every other source's events, learned from a DSN (or an ARF report); keyed by the report, so reading it twice changes nothing twice.
  const tied = (r: ReportedRecipient, kind: "bounced" | "complained") => (reportRowId: string) =>
    eventStatements(
      db,
      {
        messageId: original.id,
        recipient: r.recipient,
        kind,
        status: r.status,
        diagnostic: r.diagnostic,
        hard: r.hard,
        source: "dsn",
        relayId: null,
        dedupeKey: dsnEventKey(reportRowId, r.recipient),
        occurredAt: now,
        providerSuppressed: false,
        stream: null,
      },
      standingOf(r.recipient, standing as unknown as StandingRows),
      now,
    );

  for (const r of matched.values()) {
    const detail = { recipient: r.recipient, status: r.status, diagnostic: r.diagnostic };
    if (report.kind === "feedback") {
      build.push(event("complaint", { ...detail, feedback_type: report.feedbackType }));
      build.push((reportRowId) => tied(r, "complained")(reportRowId).statements);
      keyed.push(r.recipient);
      if (!standingOf(r.recipient, standing as unknown as StandingRows).suppressed) effects.suppressed.push({ email: r.recipient, reason: "complaint" });
    } else if (report.kind === "auto_reply") {
      build.push(event("auto_reply", detail));
    } else if (r.action === "delayed" || (r.action === null && report.kind === "delayed")) {
      effects.delayed.push(r.recipient);
      build.push(event("delayed", detail));
    } else if (r.action === "delivered" || (r.action === null && report.kind === "delivered")) {
      build.push(event("delivery_report", detail));
    } else {
      effects.bounced.push(r.recipient);
      effects.counted.push(r.recipient);
      build.push((reportRowId) => [...tied(r, "bounced")(reportRowId).statements, ...event("bounced", { ...detail, hard: r.hard, learned_from: "dsn" })(reportRowId)]);
      keyed.push(r.recipient);
      const reason = suppressionFor(r.hard, standingOf(r.recipient, standing as unknown as StandingRows), now);
      if (reason) effects.suppressed.push({ email: r.recipient, reason });
    }
  }
  return {
    summary,
    tied: true,
    statements: (reportRowId) => build.flatMap((b) => b(reportRowId)),
    eventKeys: (reportRowId) => keyed.map((recipient) => dsnEventKey(reportRowId, recipient)),
  };
}
