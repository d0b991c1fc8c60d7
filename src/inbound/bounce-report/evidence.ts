/**
 * Whether a mail system wrote the message at all (a daemon sender, the null
 * reverse-path, a bounce subject, a report content type, a header only
 * bounces carry, a known program's notice), and how strongly. The
 * delivery-report reader (dsn.ts) reads nothing without it, so that human
 * mail reads as no report; the looser text patterns need strong evidence.
 */
import { localPartOf } from "../../mail/address";
import { ADDRESS } from "./addresses";
import { headerValue, phrases, type ReadField } from "./fields";
import type { Parts } from "./types";

export interface Evidence {
  /** A sign that a mail system wrote this: a daemon sender or the null reverse-path. */
  any: boolean;
  /** That and a bounce subject, or a report content type, X-Failed-Recipients, a known notice. */
  strong: boolean;
  /** How this program names the recipient, when it is one of NOTICE_SIGNATURES. */
  recipient: RegExp | null;
}

/** A multipart/report of delivery status notifications (RFC 3464), or one that does not say (broken MTAs). */
const DELIVERY_REPORT_TYPE = /^\s*multipart\/report\b/i;

/** Local parts and display names of the senders of bounces. */
const DAEMON_SENDER = /^(?:mailer-?daemon|mail-?daemon|postmaster|post_master|mail[._ -]?delivery[._ -]?(?:system|subsystem)?)$/i;
const DAEMON_NAME = /\b(?:mailer[- ]?daemon|mail delivery|postmaster|delivery (?:sub)?system|ndr administrator|interscan)\b/i;
/** Subjects of bounces and delay warnings, in the languages of the corpus. */
const BOUNCE_SUBJECT = phrases([
  String.raw`undeliver(?:able|ed)`,
  "returned mail",
  String.raw`delivery (?:status notification|failure|failed|has failed|notification|problem)`,
  String.raw`failure (?:notice|delivery)`,
  "mail delivery failed",
  "could not be delivered",
  String.raw`non[- ]?delivery`,
  "mail system error",
  "error sending your mail",
  "returning message to sender",
  "delayed mail",
  "warning: message",
  "mail failure",
  "not delivered",
  "bounce notification",
  String.raw`non[- ]?deliverable`,
  "not deliverable",
  "unable to deliver",
  "returned to sender",
  "failed delivery",
  String.raw`delivery (?:error|report: failed)`,
  // Exchange's NDR subjects in other languages
  "unzustellbar",
  "non remis",
  "onbestelbaar",
  "non recapitabile",
  "no se puede entregar",
  "olevererbart",
]);

/** Auto-Submitted with the comment of a failure notice (Sendmail: "auto-generated (failure)"). */
const FAILURE_SUBMISSION = /^\s*auto-(?:generated|replied)\s*\(\s*(?:failure|delay|warning)/i;

/** Subject prefixes of replies and forwards (English, German, French, ...). */
const REPLY_OR_FORWARD = /^\s*(?:re|fwd?|aw|wg|tr|sv|vs|antw)\s*:/i;

/**
 * Programs that send their notices from ordinary-looking addresses, known by
 * a header of theirs (and the subject of their notices, where the header
 * alone does not tell); some name the recipient their own way.
 */
const NOTICE_SIGNATURES: { header: ReadField; value: RegExp; subject?: RegExp; recipient?: RegExp }[] = [
  // fml, the mailing-list manager: "You x@y are not member" (of <list@x>), "Loop Alert: Duplicated Message-ID in <list@x>"
  {
    header: "x-mlserver",
    value: /^fml\b/i,
    subject: /\b(?:are not member|loop alert|duplicated message-id)\b/i,
    recipient: new RegExp(`<(?<address>${ADDRESS})>`, "u"),
  },
  // KDDI au one net: error notices from no-reply@<host>.dion.ne.jp, answered to its system address
  { header: "reply-to", value: /^\s*<?no-reply@app\.auone-net\.jp>?\s*$/i },
];

/**
 * From headers only, never the body: a person quoting a bounce in their
 * text is no mail system. A daemon sender or the null reverse-path alone
 * is only `any`.
 */
export function deliveryEvidence(parts: Parts): Evidence {
  const headers = parts.headers;
  // "MAILER-DAEMON <>" has no address: the name alone tells.
  const daemon = DAEMON_SENDER.test(localPartOf(parts.fromAddress)) || DAEMON_NAME.test(parts.fromName);
  const returnPath = headerValue(headers, "return-path");
  const nullSender = returnPath !== undefined && /^\s*<\s*>\s*$/.test(returnPath);
  // A person replying to or forwarding a bounce writes about it: that is no report.
  const bounceSubject = BOUNCE_SUBJECT.test(parts.subject) && !REPLY_OR_FORWARD.test(parts.subject);
  const report = DELIVERY_REPORT_TYPE.test(headerValue(headers, "content-type") ?? "") || parts.hasDeliveryStatus;
  // Headers that only bounces carry: Exim's and Gmail's list of failed addresses, Exchange's NDR mark, Sendmail's "(failure)".
  const failedHeader =
    headerValue(headers, "x-failed-recipients") !== undefined ||
    headerValue(headers, "x-ms-exchange-message-is-ndr") !== undefined ||
    FAILURE_SUBMISSION.test(headerValue(headers, "auto-submitted") ?? "");
  const signature = NOTICE_SIGNATURES.find((sig) => sig.value.test(headerValue(headers, sig.header) ?? "") && (sig.subject?.test(parts.subject) ?? true));
  const strong = ((daemon || nullSender) && bounceSubject) || report || failedHeader || signature !== undefined;
  return { any: strong || daemon || nullSender, strong, recipient: signature?.recipient ?? null };
}
