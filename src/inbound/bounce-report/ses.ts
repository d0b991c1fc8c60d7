/**
 * Amazon SES notifications: SES reports bounces, complaints and deliveries
 * as a JSON body (from SNS, or as SES email feedback), whose fields say
 * exactly what a DSN says in prose; read before the delivery-report reader,
 * which would otherwise read the JSON as a text bounce from a daemon.
 */
import { cleanAddress } from "./addresses";
import { clip, typedText } from "./fields";
import { MAX_RECIPIENTS } from "./limits";
import { actionOf, enhancedStatusIn, failureStatusIn, kindOf, recipientOf, reportOf } from "./status";
import type { BounceReport, Parts } from "./types";

/** Senders of SES notifications: SNS (no-reply@sns.amazonaws.com) and SES email feedback (amazonses.com). */
const SES_SENDER = /@(?:[\w-]+\.)*(?:amazonaws|amazonses)\.com$/i;

/**
 * SES sends its bounce, complaint and delivery notifications as a JSON body
 * (possibly wrapped in an SNS envelope whose `Message` is the JSON again);
 * the details sit under the key named by the type ("bounce", ...).
 */
export function readSesNotification(parts: Parts): BounceReport | null {
  if (!SES_SENDER.test(parts.fromAddress)) return null;
  const notification = sesNotification(parts.text);
  const type = String(notification?.notificationType ?? notification?.eventType ?? "").toLowerCase();
  const details = notification ? objectAt(notification, type) : null;
  if (!details) return null;
  if (type === "bounce") return sesBounce(details);
  if (type === "complaint") return sesComplaint(details);
  if (type === "delivery") return sesDelivery(details);
  return null;
}

function sesBounce(bounce: Json): BounceReport {
  const transient = String(bounce.bounceType ?? "").toLowerCase() === "transient";
  const recipients = sesRecipients(arrayAt(bounce, "bouncedRecipients").slice(0, MAX_RECIPIENTS)).flatMap((entry) => {
    const address = sesAddress(entry);
    if (!address) return [];
    const diagnosticCode = stringAt(entry, "diagnosticCode");
    const diagnostic = diagnosticCode ? clip(typedText(diagnosticCode)) : null;
    const action = actionOf(stringAt(entry, "action")) ?? (transient ? "delayed" : "failed");
    const status = action === "delivered" ? enhancedStatusIn(stringAt(entry, "status")) : (failureStatusIn(stringAt(entry, "status")) ?? failureStatusIn(diagnostic));
    return [recipientOf(address, action, status, diagnostic, null)];
  });
  return reportOf(kindOf(recipients), recipients);
}

function sesComplaint(complaint: Json): BounceReport {
  const recipients = sesRecipients(arrayAt(complaint, "complainedRecipients").slice(0, MAX_RECIPIENTS)).flatMap((entry) => {
    const address = sesAddress(entry);
    return address ? [recipientOf(address, null, null, null, null)] : [];
  });
  return reportOf("feedback", recipients, stringAt(complaint, "complaintFeedbackType")?.toLowerCase() ?? "abuse");
}

function sesDelivery(delivery: Json): BounceReport {
  const response = stringAt(delivery, "smtpResponse");
  const recipients = arrayAt(delivery, "recipients")
    .slice(0, MAX_RECIPIENTS)
    .flatMap((entry) => {
      const address = typeof entry === "string" ? cleanAddress(entry) : null;
      return address ? [recipientOf(address, "delivered", enhancedStatusIn(response), clip(response), clip(stringAt(delivery, "remoteMtaIp")))] : [];
    });
  return reportOf("delivered", recipients);
}

type Json = Record<string, unknown>;

function sesNotification(text: string): Json | null {
  if (!text.includes("notificationType") && !text.includes("eventType")) return null;
  const start = text.indexOf("{");
  const end = text.lastIndexOf("}");
  if (start < 0 || end <= start) return null;
  const body = text.slice(start, end + 1);
  // Sendmail breaks lines longer than it allows with "!" + newline + space: undo it.
  const parsed = parseJson(body) ?? parseJson(body.replace(/!\r?\n /g, ""));
  if (!parsed) return null;
  if (typeof parsed.Message === "string") return parseJson(parsed.Message);
  return parsed;
}

function parseJson(text: string): Json | null {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Json) : null;
  } catch {
    return null;
  }
}

function objectAt(value: Json, key: string): Json | null {
  const inner = value[key];
  return inner && typeof inner === "object" && !Array.isArray(inner) ? (inner as Json) : null;
}

function sesRecipients(list: unknown[]): Json[] {
  return list.filter((entry): entry is Json => Boolean(entry) && typeof entry === "object" && !Array.isArray(entry));
}

function sesAddress(entry: Json): string | null {
  const value = stringAt(entry, "emailAddress");
  return value ? cleanAddress(value) : null;
}

function stringAt(value: Json, key: string): string | null {
  const inner = value[key];
  return typeof inner === "string" ? inner : null;
}

function arrayAt(value: Json, key: string): unknown[] {
  const inner = value[key];
  return Array.isArray(inner) ? inner : [];
}
