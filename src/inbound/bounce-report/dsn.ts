/**
 * The delivery-report reader: RFC 3464 delivery status notifications
 * (`message/delivery-status` parts, or DSN fields printed in the text),
 * X-Failed-Recipients (Exim, Gmail), which outrank the text, and the text
 * bounces of MTAs that send no DSN (text-bounces.ts). The structured fields
 * name the recipients; the text fills in what they leave out. Reads nothing
 * unless the headers show that a mail system wrote the message
 * (evidence.ts), so human mail reads as no report.
 */
import type { Header } from "postal-mime";
import { addressFromTypedValue, cleanAddress } from "./addresses";
import { isAutoReply } from "./auto-reply";
import { deliveryEvidence, type Evidence } from "./evidence";
import { clip, fieldBlocks, headerValue, headerValues, typedText, unique } from "./fields";
import { MAX_FIELD_CHARS, MAX_FIELD_LINES, MAX_RECIPIENTS } from "./limits";
import { RETURNED_SENDER, returnedAddresses, returnedRecipients } from "./original-ids";
import { actionFromStatus, actionOf, enhancedStatusIn, failureStatusIn, isGenericStatus, kindOf, moreSpecificStatus, recipientOf, reportOf } from "./status";
import { readTextBounce, type TextFinding } from "./text-bounces";
import type { BounceReport, DsnBlock, Parts, ReportedRecipient } from "./types";

/**
 * A multipart/report that is no delivery report: read receipts (RFC 8098
 * message disposition notifications) carry Final-Recipient fields too.
 */
const OTHER_REPORT_TYPE = /^\s*multipart\/report\s*;(?:.*;)?\s*report-type\s*=\s*"?(?!delivery-status\b)[\w-]/i;

/**
 * Structured sources first (DSN parts, X-Failed-Recipients), then the
 * text. Null for read receipts, for mail no mail system wrote, and for
 * weak-evidence auto-replies.
 */
export function readDeliveryReport(parts: Parts): BounceReport | null {
  if (OTHER_REPORT_TYPE.test(headerValue(parts.headers, "content-type") ?? "")) return null;
  const evidence = deliveryEvidence(parts);
  // RFC 3834 auto-replies that only look a little like a bounce (a null sender) stay auto-replies.
  if (!evidence.any || (isAutoReply(parts) && !evidence.strong)) return null;
  const recipients = recipientsIn(parts, parts.text, evidence) ?? recipientsIn(parts, parts.rawBody, evidence) ?? listedRecipients(parts);
  if (recipients.length) return reportOf(kindOf(recipients), recipients);
  // A report that names nobody we can read is still a report, when it says so plainly.
  if (evidence.strong) return reportOf("bounce");
  return null;
}

/**
 * The recipients of the RFC 3464 parts (or of DSN fields printed in the
 * text), completed with what the text says about each; else the text's own
 * recipients. Null when none can be read.
 */
function recipientsIn(parts: Parts, text: string, evidence: Evidence): ReportedRecipient[] | null {
  const returnedTo = returnedRecipients(parts);
  const fromText = listedFirst(notTheSender(readTextBounce(text, evidence), parts, returnedTo), parts.failedRecipients, returnedTo);
  const blocks = parts.hasDeliveryStatus ? parts.dsnBlocks : readDsnFields(text);
  const named = blocks.filter((block): block is DsnBlock & { recipient: string } => block.recipient !== null);
  if (named.length) {
    const byAddress = new Map(fromText.map((found) => [found.address, found]));
    const only = fromText.length === 1 ? fromText[0] : undefined;
    return named.map((block) => withTextDetails(block, byAddress.get(block.recipient) ?? only));
  }
  return fromText.length ? withUnnamedBlock(fromText, blocks) : null;
}

/**
 * X-Failed-Recipients (Exim, Gmail, Google Groups) lists the failed
 * addresses: structured evidence, which outranks the text. The text of a
 * bounce names other addresses too (Exim's "A message sent by <sender>", a
 * postmaster to write to), and may not name a listed one it failed to
 * route. The details the text gives for its one address go to the one
 * address listed; unless the returned message was sent To the text's
 * address and not to the listed one (the same mailbox spelled two ways),
 * where the text is taken at its word.
 */
function listedFirst(findings: TextFinding[], listed: string[], returnedTo: string[]): TextFinding[] {
  if (!listed.length) return findings;
  const byAddress = new Map(findings.map((found) => [found.address, found]));
  const only = listed.length === 1 && findings.length === 1 ? findings[0] : undefined;
  if (only && !byAddress.has(listed[0]!) && returnedTo.includes(only.address) && !returnedTo.includes(listed[0]!)) return findings;
  const unnamed: Omit<TextFinding, "address"> = { action: findings[0]?.action ?? "failed", status: null, diagnostic: null };
  return listed.map((address) => ({ ...(byAddress.get(address) ?? only ?? unnamed), address }));
}

/**
 * When the report itself names nobody: X-Failed-Recipients, else the one
 * address the returned message was sent To.
 */
function listedRecipients(parts: Parts): ReportedRecipient[] {
  const returnedTo = returnedRecipients(parts);
  const listed = parts.failedRecipients.length ? parts.failedRecipients : returnedTo.length === 1 ? returnedTo : [];
  return withUnnamedBlock(listedFirst([], listed, []), parts.dsnBlocks);
}

/** The addresses of X-Failed-Recipients (Exim starts a new field every 50), at most MAX_RECIPIENTS. */
export function failedRecipientsOf(headers: Header[]): string[] {
  const values = headerValues(headers, "x-failed-recipients").flatMap((value) => value.slice(0, MAX_FIELD_CHARS).split(","));
  return unique(values.slice(0, MAX_RECIPIENTS).flatMap((part) => cleanAddress(part) ?? []));
}

/**
 * Recipients found elsewhere, given the details of a DSN's only block when
 * that block names no address (Exim's "Final-Recipient: rfc822;/var/mail/x"
 * for a delivery to a file): it is about the one recipient there is.
 */
function withUnnamedBlock(findings: TextFinding[], blocks: DsnBlock[]): ReportedRecipient[] {
  const only = blocks.length === 1 && findings.length === 1 ? blocks[0] : undefined;
  return findings.map((found) =>
    only ? withTextDetails({ ...only, recipient: found.address }, found) : recipientOf(found.address, found.action, found.status, found.diagnostic, null),
  );
}

/** Per-recipient blocks of a DSN (RFC 3464 §2.3), in order; at most MAX_RECIPIENTS. */
export function readDsnFields(text: string): DsnBlock[] {
  const out: DsnBlock[] = [];
  for (const block of fieldBlocks(text, MAX_FIELD_LINES)) {
    if (out.length >= MAX_RECIPIENTS) break;
    let current: Partial<Record<string, string>> = {};
    const flush = () => {
      const final = current["final-recipient"];
      const original = current["original-recipient"];
      if ((final !== undefined || original !== undefined) && out.length < MAX_RECIPIENTS) {
        const address = (final && addressFromTypedValue(final)) || (original && addressFromTypedValue(original)) || null;
        out.push(dsnBlock(address, current));
      }
      current = {};
    };
    for (const field of block) {
      // Some MTAs leave out the blank line between recipients: a second recipient field starts the next one.
      if ((field.name === "final-recipient" || field.name === "original-recipient") && current[field.name] !== undefined) flush();
      current[field.name] ??= field.value;
    }
    flush();
  }
  return out.slice(0, MAX_RECIPIENTS);
}

/**
 * One recipient's fields. A failed or delayed recipient's status is never a
 * 2.x.x code, neither the Status field's (broken MTAs) nor one its
 * Diagnostic-Code quotes (a relay's last positive reply, "smtp; 250 2.1.5 Ok").
 */
function dsnBlock(address: string | null, fields: Partial<Record<string, string>>): DsnBlock {
  const diagnostic = fields["diagnostic-code"] ? clip(typedText(fields["diagnostic-code"])) : null;
  const statusField = enhancedStatusIn(fields.status);
  const stated = actionOf(fields.action) ?? actionFromStatus(statusField);
  const failure = stated !== "delivered";
  const status = failure
    ? moreSpecificStatus(statusField?.startsWith("2.") ? null : statusField, failureStatusIn(diagnostic))
    : moreSpecificStatus(statusField, enhancedStatusIn(diagnostic));
  const action = stated ?? actionFromStatus(status);
  const remoteMta = fields["remote-mta"] ? clip(typedText(fields["remote-mta"])) : null;
  return { recipient: address, action, status, diagnostic, remoteMta };
}

/** Fills what the DSN leaves out (no diagnostic, a generic status) from the text part's words about the same address. */
function withTextDetails(block: DsnBlock & { recipient: string }, found: TextFinding | undefined): ReportedRecipient {
  // The text's codes are failures' (failureStatusIn): they never refine a delivered recipient's 2.0.0.
  const status = isGenericStatus(block.status) && block.action !== "delivered" && found?.status ? found.status : block.status;
  const diagnostic = block.diagnostic ?? found?.diagnostic ?? null;
  return recipientOf(block.recipient, block.action ?? found?.action ?? null, status, diagnostic, block.remoteMta);
}

/**
 * The text's findings without the returned message's own sender, when the
 * text names someone else too and the sender was not also a recipient: a
 * bounce names the sender in passing ("A message sent by <x>", "Delivery
 * Status Notification for x"), and the sender is who the bounce goes back
 * to, not who it failed for. An only finding is kept (mail to oneself).
 */
function notTheSender(findings: TextFinding[], parts: Parts, returnedTo: string[]): TextFinding[] {
  if (findings.length < 2) return findings;
  const senders = returnedAddresses(parts, RETURNED_SENDER).filter((address) => !returnedTo.includes(address));
  const others = findings.filter((found) => !senders.includes(found.address));
  return others.length ? others : findings;
}
