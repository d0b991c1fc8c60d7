/**
 * Reads what a bounce says: which recipients failed (or were delayed, or
 * delivered), with which status, and which of our messages it is about.
 *
 * Sources, strongest first, one reader each (READERS below):
 * - ARF feedback reports (RFC 5965) and kin (arf.ts), and Amazon SES
 *   notifications (ses.ts);
 * - RFC 3464 delivery status notifications (`message/delivery-status`),
 *   and X-Failed-Recipients (Exim, Gmail), which outrank the text (dsn.ts);
 * - the plain-text bounces of MTAs that send no RFC 3464 part (qmail, Exim,
 *   old Sendmail and Postfix, Exchange 2003, Notes, Gmail, Yahoo, ...),
 *   read with a small table of line patterns (text-bounces.ts,
 *   text-patterns.ts), as part of the delivery-report reader;
 * - RFC 3834 auto-replies (vacation messages), which are not bounces
 *   (auto-reply.ts);
 * - a bounce that a person forwards, inline or attached, read as the
 *   report it carries (forwarded.ts).
 *
 * Text is only searched for recipients when the headers show that a mail
 * system wrote the message (a daemon sender or the null reverse-path, with
 * a bounce subject or a report content type for the looser patterns;
 * evidence.ts), so that human mail reads as no report. A failed or delayed
 * recipient's status is never a 2.x.x code, whatever transcript the text
 * quotes.
 *
 * The work is bounded whatever the input (see MAX_REPORT_BYTES and the
 * other limits in limits.ts): a few milliseconds of CPU at most.
 *
 * Pure and runtime-neutral (postal-mime and web APIs only), so it runs in
 * Node and in workerd alike. Never throws: unreadable input reads as "not a
 * report".
 */
import { readFeedbackReport } from "./arf";
import { readAutoReply } from "./auto-reply";
import { readDeliveryReport } from "./dsn";
import { readForwardedBounce } from "./forwarded";
import { MAX_FORWARDED_LINES, MAX_PARSE_LINES } from "./limits";
import { originalMessageIds } from "./original-ids";
import { parseReport } from "./parse";
import { readSesNotification } from "./ses";
import { reportOf } from "./status";
import type { BounceReport, Parts, Reader } from "./types";

export { MAX_REPORT_BYTES } from "./limits";
export { readSyncRefusal } from "./status";
export type { BounceReport, ReportedAction, ReportedRecipient, ReportKind } from "./types";

/**
 * The readers, tried in this order on every message; the first that
 * recognises the message gives the report. The order matters because their
 * evidence overlaps (test/unit/bounce-readers.test.ts has a row for each
 * overlap), and the more specific reader must see a message first:
 * - feedback reports first: a complaint must never count as a bounce. An
 *   ARF report whose Content-Type does not name its report-type is a
 *   multipart/report, which the delivery-report reader takes for a DSN; and
 *   Apple Mail's unsubscribe mail is marked Auto-Submitted: auto-replied.
 * - SES notifications before delivery reports: a JSON notification from a
 *   daemon-like amazonses.com address under a bounce subject would
 *   otherwise be read as a text bounce, its complaints and deliveries
 *   included. (SES's own DSNs carry no JSON: the SES reader passes them on.)
 * - delivery reports before auto-replies: many bounces are marked
 *   Auto-Submitted: auto-replied (Exim, Postfix, Exchange: about 200 of the
 *   corpus's), and are bounces; the delivery-report reader itself leaves to
 *   the auto-reply reader the auto-replies with only weak signs of a bounce.
 *
 * A bounce that a person forwards (forwarded.ts) is not in the list: it is
 * tried only after all of them found nothing, only on the message received
 * (one level deep), and it reads the forwarded message with this same list.
 */
const READERS: readonly Reader[] = [readFeedbackReport, readSesNotification, readDeliveryReport, readAutoReply];

/** The one entry point (src/inbound/bounce.ts, POST /v1/route-test). Never throws: input that breaks a reader reads as "not a report". */
export async function readBounceReport(raw: Uint8Array | string): Promise<BounceReport> {
  try {
    return await read(raw, true);
  } catch {
    return reportOf(null);
  }
}

/** Reads one message; `outer`: it may be a person's forward of a bounce, which is read in turn (once). */
async function read(raw: Uint8Array | string, outer: boolean): Promise<BounceReport> {
  // A forwarded bounce is read within the forward's own budget: its lines count twice at most.
  const parts = await parseReport(raw, outer ? MAX_PARSE_LINES : MAX_FORWARDED_LINES);
  const report = firstReport(parts);
  if (report) return { ...report, originalMessageIds: originalMessageIds(parts.returnedHeaders) };
  return (outer ? await readForwardedBounce(parts, (message) => read(message, false)) : null) ?? reportOf(null);
}

/** The report of the first reader that recognises the message, or null. */
function firstReport(parts: Parts): BounceReport | null {
  for (const reader of READERS) {
    const report = reader(parts);
    if (report) return report;
  }
  return null;
}
