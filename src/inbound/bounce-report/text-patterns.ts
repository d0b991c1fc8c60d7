/**
 * The pattern table of text bounces (read by text-bounces.ts): where the
 * copy of the returned message starts, the line shapes that name a failed
 * recipient (in the order they are tried), and the words of failure and
 * delay. Every pattern sees one line cut to MAX_LINE_CHARS and every
 * repetition in it is bounded, so matching stays linear.
 */
import { ADDRESS } from "./addresses";
import { phrases } from "./fields";

/**
 * Lines that end the report and start the copy of the returned message
 * (qmail's "--- Below this line is a copy of the message.", Exim's
 * "------ This is a copy of the message, including all the headers. ------",
 * Sendmail's "----- Unsent message follows -----", ...).
 */
const RETURNED_MESSAGE_STARTS: RegExp[] = [
  /^\s*[-=*_]{2,}.*\b(?:original|copy|unsent|returned|message follows|header of)\b/i,
  /^\s*(?:original message|message headers?|original mail)\s+(?:follows?|as follows)\b/i,
  /\b(?:below|enclosed|included) is a copy of\b/i,
  /^\s*original message(?: headers)?:\s*$/i,
  /^\s*the attachment contains the original\b/i,
  /^\s*content-type:\s*(?:message\/rfc822|text\/rfc822-headers)\b/i,
];

/** Where the copy of the returned message starts, or -1. */
export function copyStart(lines: string[]): number {
  return lines.findIndex((line) => RETURNED_MESSAGE_STARTS.some((pattern) => pattern.test(line)));
}

/**
 * Labels whose address is the sender, the original To or some id, never a
 * failed recipient: header names of the returned message and kin.
 */
export const NOT_A_RECIPIENT_LABEL =
  /^(?:to|from|cc|bcc|sender|reply[- ]to|return-path|delivered-to|x-[\w-]+|envelope-to|errors-to|mail from|original sender|sender address|your address|from address|message-id|content-id|in-reply-to|references|resent-[\w-]+|list-[\w-]+)$/i;

/** Labels that introduce a failed recipient ("Unknown user:", "Could not be delivered to:", "RCPT TO:"). */
export const RECIPIENT_LABEL = /\b(?:recipients?|rcpt|address(?:es)?|user(?:id)?|mailbox|deliver\w*|undeliver\w*|failed|to)\b/i;

/**
 * The address alone on its line, as qmail, Exim, Gmail, Notes and Mimecast
 * list failed recipients ("<a@b>:", "  a@b", "* a@b", "-- a@b", "\"a@b\":").
 * Human mail has such lines too (signatures), so it counts only on strong
 * evidence that a mail system wrote the message.
 */
const ADDRESS_LINE = new RegExp(String.raw`^\s*(?:[*-]{1,2}\s+)?["<]?(?<address>${ADDRESS})[">]?:?\s*$`, "u");

/** An SMTP failure reply (4xx, 5xx) or a failure's enhanced status code (regex source). */
const FAILURE_REPLY_SOURCE = String.raw`(?:^|[\s:'"\[(<])[45]\d\d(?:[ -]|$)|(?<![\d.])[45]\.[0-7]\.\d{1,3}(?!\d)`;

/** Words saying that delivery failed (regex sources). */
const FAILURE_WORD_SOURCES = [
  String.raw`undeliver\w*`,
  String.raw`not (?:be )?delivered`,
  String.raw`(?:could|can)(?:not|n't) be delivered`,
  String.raw`(?:wasn't|was not|were not) delivered`,
  "unable to deliver",
  "did not reach",
  "failure",
  "failed",
  "rejected",
  "refused",
  "unknown user",
  "user unknown",
  "no such user",
  "returned",
];

/**
 * Other ways text bounces name a failed recipient. Each pattern captures the
 * address and, when the reason is on the same line, the rest.
 */
const RECIPIENT_LINES: RegExp[] = [
  // Sendmail kin: ">>> a@b <a@b>"
  new RegExp(String.raw`^\s*(?:>{1,3}\s*)?${ADDRESS}\s+<(?<address>${ADDRESS})>\s*$`, "u"),
  // Postfix, MXLogic: "<a@b>: host mx said: 550 ..."
  new RegExp(String.raw`^\s*<(?<address>${ADDRESS})>:?\s+(?<rest>\S.*)$`, "u"),
  // Exim, a malformed address: "a@b <c@d>: malformed address: ..."
  new RegExp(String.raw`^\s*[^<>:]{1,80}\s<(?<address>${ADDRESS})>:\s+(?<rest>\S.*)$`, "u"),
  // OpenSMTPD, 1&1: "a@b: 550 ..."
  new RegExp(String.raw`^\s*"?(?<address>${ADDRESS})"?:\s+(?<rest>\S.*)$`, "u"),
  // Sendmail transcripts: "554 <a@b>... Service unavailable", "<a@b>... Deferred: ..."
  new RegExp(String.raw`^\s*(?:\d{3}[ -]\s*)?<?(?<address>${ADDRESS})>?\.\.\.\s*(?<rest>.*)$`, "u"),
  // Exchange 2003: "a@b on Thu, 29 Apr 2010 ..."
  new RegExp(String.raw`^\s*(?<address>${ADDRESS})\s+on\s+(?<rest>.*)$`, "u"),
  // "a@b [User unknown]", "a@b (reason)"
  new RegExp(String.raw`^\s*<?(?<address>${ADDRESS})>?\s+[\[(](?<rest>[^\])]{1,200})[\])]\s*$`, "u"),
  // Zoho: "a@b Invalid Address, ERROR_CODE :550, ..."
  new RegExp(String.raw`^\s*(?<address>${ADDRESS})\s+(?<rest>invalid address\b.*)$`, "iu"),
  // "Unknown user: a@b", "Recipient address: a@b", "Could not be delivered to: <a@b>" (IMail, KDDI, PMDF, ...):
  // the label is the reason, so the whole line is kept
  new RegExp(String.raw`^\s*(?<rest>(?<label>[^:<>@]{2,80}?)\s*:\s*<?(?<address>${ADDRESS})>?\s*[.,;]?)\s*$`, "u"),
  // "error delivering your mail to <a@b>.", "rejected recipient <a@b>", "RCPT TO:<a@b>"
  new RegExp(String.raw`^(?<rest>.*?\b(?:to|recipient)\s*:?\s*<(?<address>${ADDRESS})>.*)$`, "iu"),
  // "The following recipients returned permanent errors: a@b. Reason: ..."
  new RegExp(String.raw`\brecipients?\b[^:<>@]{0,60}:\s*<?(?<address>${ADDRESS})>?[.,;]?\s+(?<rest>\S.*)$`, "iu"),
];

/**
 * Prose: "Your message could not be delivered to a@b", "was undeliverable to
 * a@b: 550 ...", "Delivery to 'a@b' failed", "For a@b the server said: 550
 * ...": a bare or quoted address after "to" or "for", on a line that speaks
 * of delivery, says that it failed or quotes a failure reply (PROSE_LINE,
 * tested only on lines that fit). A role address there is someone to write
 * to ("if the failure persists, write to postmaster@..."), not a recipient.
 */
const PROSE_RECIPIENT = new RegExp(
  String.raw`^(?<rest>.*?\b(?:to|for)\s+['"]?(?!(?:postmaster|mailer-daemon|abuse|hostmaster|webmaster)@)(?<address>${ADDRESS})(?![\p{L}\p{N}_@-]|\.[\p{L}\p{N}]).*)$`,
  "iu",
);
const PROSE_LINE = new RegExp(String.raw`\b(?:deliver\w*|${FAILURE_WORD_SOURCES.join("|")})\b|${FAILURE_REPLY_SOURCE}`, "i");

/** A way to name a recipient: the pattern of its line, and what else the line must say. */
export interface LinePattern {
  pattern: RegExp;
  when?: RegExp;
}

/** The patterns tried on a line, in order; on strong evidence, the address alone on its line first. */
export const LINE_PATTERNS: LinePattern[] = [...RECIPIENT_LINES.map((pattern) => ({ pattern })), { pattern: PROSE_RECIPIENT, when: PROSE_LINE }];
export const STRONG_LINE_PATTERNS: LinePattern[] = [{ pattern: ADDRESS_LINE }, ...LINE_PATTERNS];

/** Words saying that delivery failed, in the text of a report. */
export const FAILURE_WORDS = phrases(FAILURE_WORD_SOURCES);

/** Words of a delay warning (RFC 3464's "delayed"): the message is still queued. */
export const DELAY_WARNING = phrases([
  String.raw`ha(?:s|ve) been delayed`,
  "not yet been delivered",
  "will be retried",
  "warning message only",
  String.raw`this is (?:a|only a) warning`,
  "temporary failure report",
  "still being retried",
  "delay reason",
  "delivery attempts will continue",
]);

/**
 * Lines quoting an SMTP failure reply (4xx, 5xx) or a failure's enhanced status code: what the remote server
 * said. A transcript's successes ("<<< 250 2.1.5 Ok") are no part of why delivery failed.
 */
export const SMTP_REPLY = new RegExp(FAILURE_REPLY_SOURCE);
/**
 * A line that introduces the sender, whose address comes alone on the next line: Exim's bounce and delay
 * warning to an errors_to address ("A message sent by\n\n  <sender@x>\n\ncould not be delivered ...").
 */
export const SENDER_INTRO = /\b(?:sent|submitted) by\s*:?\s*$/i;
/** A MIME boundary line: where a broken multipart's next part starts. */
export const BOUNDARY_LINE = /^--\S*[A-Za-z0-9]\S*$/;
