/**
 * Feedback reports: ARF complaints and opt-out reports (RFC 5965, RFC 6650),
 * plus the two complaint forms that are no ARF, Apple Mail's unsubscribe
 * mail (X-Apple-Unsubscribe) and Microsoft's JMRP (the complainant in a
 * header of the attached message). A complaint is a report of kind
 * "feedback" about the complaining recipients, never a bounce: read first,
 * before the delivery-report reader could take its multipart/report or its
 * attached message for one.
 */
import { canonical, cleanAddress } from "./addresses";
import { fieldBlocks, headerValue, unique } from "./fields";
import { MAX_FIELD_LINES, MAX_RECIPIENTS } from "./limits";
import { returnedRecipients } from "./original-ids";
import { recipientOf, reportOf } from "./status";
import type { BounceReport, Parts } from "./types";

/**
 * First of the readers (index.ts): a complaint must never be read as a
 * bounce, and the other readers would take an ARF report or Apple's
 * unsubscribe mail for one.
 */
export function readFeedbackReport(parts: Parts): BounceReport | null {
  const contentType = (headerValue(parts.headers, "content-type") ?? "").toLowerCase();
  const isArf = parts.feedbackReports.length > 0 || /report-type\s*=\s*"?feedback-report/.test(contentType);
  if (isArf) return arfReport(parts);
  if (headerValue(parts.headers, "x-apple-unsubscribe")?.trim().toLowerCase() === "true") {
    // Apple Mail's "unsubscribe" button sends a mail from the subscriber.
    const from = canonical(parts.fromAddress);
    return reportOf("feedback", from ? [recipientOf(from, null, null, null, null)] : [], "opt-out");
  }
  // Microsoft's JMRP complaints are no ARF: the reported message comes with the complaining recipient in a header of its own.
  // (They come with the reported message attached: no need to look for its headers in the text.)
  const complainant = parts.originals.length ? parts.returnedHeaders.find((field) => field.name === "x-hmxmroriginalrecipient") : undefined;
  if (complainant) {
    const address = cleanAddress(complainant.value);
    return reportOf("feedback", address ? [recipientOf(address, null, null, null, null)] : [], "abuse");
  }
  return null;
}

/**
 * The complaining recipients: Original-Rcpt-To (RFC 5965 §3.2), else
 * Removal-Recipient (RFC 6650 opt-out reports), else the To of the
 * reported message.
 */
function arfReport(parts: Parts): BounceReport {
  const fields = parts.feedbackReports.flatMap((text) => fieldBlocks(text, MAX_FIELD_LINES).flat());
  const feedbackType =
    fields
      .find((field) => field.name === "feedback-type")
      ?.value.toLowerCase()
      .split(/[\s;]/)[0] || null;
  const named = (name: string) =>
    fields
      .filter((field) => field.name === name)
      .slice(0, MAX_RECIPIENTS)
      .map((field) => cleanAddress(field.value));
  let addresses = named("original-rcpt-to");
  if (!addresses.some(Boolean)) addresses = named("removal-recipient");
  const recipients = unique(addresses.filter((address): address is string => address !== null));
  const fallback = recipients.length ? recipients : returnedRecipients(parts);
  return reportOf(
    "feedback",
    fallback.map((address) => recipientOf(address, null, null, null, null)),
    feedbackType,
  );
}
