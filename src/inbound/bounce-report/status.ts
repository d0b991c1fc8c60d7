/**
 * Status codes and verdicts: RFC 3463 enhanced codes read out of fields and
 * SMTP replies, RFC 3464 actions and the report kind they sum up to, and
 * whether a failure is hard (the mailbox or domain does not exist), which
 * readSyncRefusal applies to refusals given at once over SMTP too, so that
 * both paths suppress by the same rules.
 */
import { phrases } from "./fields";
import type { BounceReport, ReportedAction, ReportedRecipient, ReportKind } from "./types";

/**
 * An RFC 3463 enhanced status code, class.subject.detail, not part of a
 * longer dotted number (an IP address or a version).
 */
const ENHANCED_STATUS = /(?<![\d.])([245])\.([0-7])\.(\d{1,3})(?!\d|\.\d)/;
/**
 * The same, right after an SMTP reply code ("550 5.1.1", "550-'5.2.2", "550 #5.1.0",
 * or "550" at the end of a line that a text bounce wrapped): the remote server's own words.
 */
const REPLY_STATUS = /(?<!\d)[245]\d\d(?:-|\s{1,12})['"#]?([245])\.([0-7])\.(\d{1,3})(?!\d|\.\d)/;
/** The two above for failures only (4.x.x and 5.x.x). */
const FAILURE_STATUS = /(?<![\d.])([45])\.([0-7])\.(\d{1,3})(?!\d|\.\d)/;
const FAILURE_REPLY_STATUS = /(?<!\d)[45]\d\d(?:-|\s{1,12})['"#]?([45])\.([0-7])\.(\d{1,3})(?!\d|\.\d)/;

/**
 * The enhanced code of a reply or diagnostic, preferring one that follows a
 * reply code: relays wrap the remote reply in their own summary (Amazon
 * SES: "5.1.0 - Unknown address error 550-'5.2.2 ... Mailbox Full'").
 */
export function enhancedStatusIn(text: string | null | undefined): string | null {
  return statusOf(text ? (REPLY_STATUS.exec(text) ?? ENHANCED_STATUS.exec(text)) : null);
}

/**
 * The same for a failure or a delay: a 2.x.x code is never its status. SMTP
 * transcripts quote the successes before the failing reply ("<<< 250 2.1.5
 * Ok" for RCPT, then "<<< 554 5.7.1" after DATA), and a relay's diagnostic
 * may carry the last positive reply it logged.
 */
export function failureStatusIn(text: string | null | undefined): string | null {
  return statusOf(text ? (FAILURE_REPLY_STATUS.exec(text) ?? FAILURE_STATUS.exec(text)) : null);
}

function statusOf(match: RegExpExecArray | null): string | null {
  return match ? `${match[1]}.${match[2]}.${Number(match[3])}` : null;
}

/**
 * A Diagnostic-Code with its own enhanced code is usually more specific than
 * the Status field, which MTAs often fill with a summary (4.4.7 "expired"
 * over a "450 4.7.1" reply, 5.0.0 over "550 5.1.1"); except when the Status
 * refines the diagnostic's x.0.0 or x.y.0 ("Status: 5.1.1" over "550 #5.1.0").
 */
export function moreSpecificStatus(statusField: string | null, diagnostic: string | null): string | null {
  if (!diagnostic || !statusField) return diagnostic ?? statusField;
  const [statusClass, statusSubject] = statusField.split(".");
  const [diagnosticClass, diagnosticSubject, diagnosticDetail] = diagnostic.split(".");
  const refines = diagnosticDetail === "0" && statusClass === diagnosticClass && (diagnosticSubject === "0" || statusSubject === diagnosticSubject);
  return refines ? statusField : diagnostic;
}

/** x.0.0 says only "failed" (or "delayed"): a more specific code elsewhere is better. */
export function isGenericStatus(status: string | null): boolean {
  return status === null || /^\d\.0\.0$/.test(status);
}

/** An RFC 3464 Action field (§2.3.3) as one of our three; a comment after the word is ignored, and an unknown action reads as null. */
export function actionOf(value: string | null | undefined): ReportedAction | null {
  const action = value
    ?.trim()
    .toLowerCase()
    .split(/[\s;(]/)[0];
  if (action === "failed" || action === "delayed" || action === "delivered") return action;
  // RFC 3464 §2.3.3: "relayed" and "expanded" are positive reports too.
  if (action === "relayed" || action === "expanded") return "delivered";
  return null;
}

/** The action a status code's class implies (RFC 3463: 2 success, 4 transient, 5 permanent), for a recipient whose Action is missing or unknown. */
export function actionFromStatus(status: string | null): ReportedAction | null {
  if (status?.startsWith("5.")) return "failed";
  if (status?.startsWith("4.")) return "delayed";
  if (status?.startsWith("2.")) return "delivered";
  return null;
}

/** RFC 3464's kinds summed up: delayed or delivered only when every recipient is. */
export function kindOf(recipients: ReportedRecipient[]): ReportKind {
  if (recipients.length && recipients.every((r) => r.action === "delayed")) return "delayed";
  if (recipients.length && recipients.every((r) => r.action === "delivered")) return "delivered";
  return "bounce";
}

/** A report as a reader answers it; `originalMessageIds` is filled in once for all readers (index.ts). `reportOf(null)` means "not a report". */
export function reportOf(kind: ReportKind | null, recipients: ReportedRecipient[] = [], feedbackType: string | null = null): BounceReport {
  return { kind, recipients, feedbackType, originalMessageIds: [] };
}

// ---------------------------------------------------------------------------
// Hard bounces

/** Diagnostics saying the mailbox does not exist. */
const NO_MAILBOX = phrases([
  String.raw`user(?:name)?s? (?:unknown|not found|does not exist|doesn't exist)`,
  String.raw`unknown (?:user|recipient|mailbox|address|local[- ]part)`,
  String.raw`no such (?:user|mailbox|recipient|address|account)`,
  String.raw`(?:mailbox|recipient|address|account) (?:unknown|not found|does not exist|doesn't exist|unavailable)`,
  String.raw`invalid (?:recipient|mailbox|address|user)`,
  String.raw`not (?:a )?(?:valid|known) (?:recipient|user|mailbox)`,
  String.raw`recipient (?:name )?is not recognized`,
  String.raw`(?:does not|doesn't) have an? [^.]{1,40} account`,
  String.raw`(?:unrouteable|undeliverable) address`,
  "not listed in",
  "no mailbox here",
  "no longer on server",
]);
/** Diagnostics saying the domain does not exist. */
const NO_DOMAIN = phrases([
  String.raw`host (?:or domain name )?not found`,
  "host unknown",
  "no such domain",
  String.raw`domain (?:does not exist|not found|unknown)`,
  String.raw`couldn't find (?:any host named|a mail exchanger)`,
  "unrouteable domain",
  "nxdomain",
]);
/** Words of a temporary condition, which no wording about the mailbox overrides. */
const TRANSIENT = phrases(["try again", String.raw`temporar(?:y|ily)`, "retry later"]);
/**
 * RFC 3463 codes that say the address cannot be delivered to, ever: 5.1.1
 * bad destination mailbox, 5.1.2 bad destination system, 5.1.6 mailbox
 * moved with no forwarding address, 5.1.10 null MX (RFC 7505).
 */
const MAILBOX_GONE = new Set(["5.1.1", "5.1.2", "5.1.6", "5.1.10"]);
/**
 * Codes under which the words decide: none, the generic 5.0.x, the other
 * addressing codes 5.1.x, and 5.4.4 "unable to route" (a domain without
 * MX or A). Any other code names another cause (5.2.2 mailbox full, 5.7.1
 * policy...), whatever the server's words add.
 */
const WORDS_DECIDE = /^5\.(?:0\.\d+|1\.\d+|4\.4)$/;

/** Permanent, and says that the mailbox or the domain does not exist, by its code or in words. */
function isHard(action: ReportedAction | null, status: string | null, diagnostic: string | null): boolean {
  if (action !== "failed") return false;
  if (status !== null && MAILBOX_GONE.has(status)) return true;
  if ((status !== null && !WORDS_DECIDE.test(status)) || diagnostic === null || TRANSIENT.test(diagnostic)) return false;
  return NO_MAILBOX.test(diagnostic) || NO_DOMAIN.test(diagnostic);
}

/**
 * A refusal a server or provider gave at once (SMTP 5xx at RCPT or after
 * DATA), read as a DSN's failed recipient would be: when it says the
 * mailbox is not there (5.1.x: no such user or domain; 5.2.x: the mailbox
 * is disabled or full; or a generic code whose words say so), its status
 * and whether that is a hard bounce. Null for refusals about the message or
 * the sender (5.7.x policy, 5.3.4 size...), which say nothing of the address.
 */
export function readSyncRefusal(code: string | null, text: string | null): { status: string; hard: boolean } | null {
  if (!code || !/^5\d\d$/.test(code)) return null;
  const status = failureStatusIn(text) ?? "5.0.0";
  const hard = isHard("failed", status, text);
  return /^5\.[12]\./.test(status) || hard ? { status, hard } : null;
}

/** Every reader makes its recipients here, so whether a failure is hard is decided by one rule (`isHard`), whichever reader found it. */
export function recipientOf(recipient: string, action: ReportedAction | null, status: string | null, diagnostic: string | null, remoteMta: string | null): ReportedRecipient {
  return { recipient, action, status, diagnostic, remoteMta, hard: isHard(action, status, diagnostic) };
}
