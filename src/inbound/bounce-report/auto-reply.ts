/**
 * RFC 3834 auto-replies (vacation and out-of-office messages), known by
 * their headers (Auto-Submitted: auto-replied, X-Autoreply, ...) or their
 * subject: not bounces, and no reason to stop writing to anyone. Read last,
 * so that a bounce that also looks auto-replied (Sendmail's
 * "auto-replied (failure)") reads as the bounce; the delivery-report reader
 * leaves to this one the auto-replies that only look a little like a bounce.
 */
import { canonical } from "./addresses";
import { headerValue } from "./fields";
import { recipientOf, reportOf } from "./status";
import type { BounceReport, Parts } from "./types";

/** Subjects of vacation replies: the marker, then a colon before the original subject. */
const AUTO_REPLY_SUBJECT =
  /^\s*(?:auto(?:matic)?[ -]?(?:reply|response|answer|antwort)|auto|out of (?:the )?office(?: reply)?|abwesenheitsnotiz|abwesend|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|automatisch antwoord|on vacation|vacation reply)\s*:/i;

/** Last of the readers (index.ts). The report names the replying address; src/inbound/bounce.ts records it and counts nothing. */
export function readAutoReply(parts: Parts): BounceReport | null {
  if (!isAutoReply(parts)) return null;
  const from = canonical(parts.fromAddress);
  return reportOf("auto_reply", from ? [recipientOf(from, null, null, null, null)] : []);
}

/** Also asked by the delivery-report reader (dsn.ts), which leaves to this reader the auto-replies that show only weak signs of a bounce. */
export function isAutoReply(parts: Parts): boolean {
  const headers = parts.headers;
  const autoSubmitted = headerValue(headers, "auto-submitted")?.trim().toLowerCase() ?? "";
  if (autoSubmitted.startsWith("auto-replied")) return true;
  if (headerValue(headers, "x-autoreply") !== undefined || headerValue(headers, "x-autorespond") !== undefined) return true;
  if (headerValue(headers, "precedence")?.trim().toLowerCase() === "auto_reply") return true;
  if (headerValue(headers, "x-apple-action")?.trim().toLowerCase() === "vacation") return true;
  return AUTO_REPLY_SUBJECT.test(parts.subject);
}
