/**
 * Bounces forwarded by a person, attached or inline: read as the delivery
 * report they carry, one level deep. Not in the list of readers (index.ts):
 * it runs only when the message itself reads as no report, and it reads
 * another message, with the whole list, through `readForwarded`.
 */
import { linesOf } from "./fields";
import { MAX_FORWARDED_LINES, MAX_REPORT_LINES } from "./limits";
import type { BounceReport, Field, Parts } from "./types";

/**
 * A person who forwards a bounce ("Fwd: Returned mail: see transcript for
 * details") passes the report on: attached whole (message/rfc822, "forward
 * as attachment"), or inline under the mail client's marker with the
 * bounce's own From, Date, Subject and To. Such mail, which reads as no
 * report itself, is read as the delivery report it carries, with the same
 * rules as any other (the forwarded From and Subject must show a mail
 * system), one level deep. A forwarded message that is no bounce (a
 * person's mail, a vacation reply) leaves the forward what it is: human mail.
 * A reply is not read so: Outlook quotes the mail replied to under the same
 * marker as a forward, and a person who answers a bounce writes about it.
 */
export async function readForwardedBounce(parts: Parts, readForwarded: (message: Uint8Array | string) => Promise<BounceReport>): Promise<BounceReport | null> {
  if (REPLY_PREFIX.test(parts.subject)) return null;
  const attached = parts.originals.filter((part) => FORWARDABLE_TYPES.has(part.mimeType.toLowerCase())).slice(0, MAX_FORWARDED);
  const inline = forwardedInline(parts.text);
  for (const message of [...attached.map((part) => part.content), ...(inline ? [inline] : [])]) {
    const report = await readForwarded(typeof message === "string" ? message : new Uint8Array(message));
    if (report.kind === "bounce" || report.kind === "delayed" || report.kind === "delivered") return report;
  }
  return null;
}

/** Subject prefixes of replies (English, German, Scandinavian, Dutch, Polish, Italian); forwards have others. */
const REPLY_PREFIX = /^\s*(?:re|aw|sv|antw|odp|r)\s*(?:\[\d+\])?\s*:/i;
/** Whole messages among the returned parts (not a copy of headers only). */
const FORWARDABLE_TYPES = new Set(["message/rfc822", "message/global"]);
/** Attached messages tried: a forward attaches one. */
const MAX_FORWARDED = 1;

/**
 * The line mail clients put above a message forwarded inline: Gmail's
 * "---------- Forwarded message ---------", Outlook's "-----Original
 * Message-----" or a line of underscores, Apple Mail's "Begin forwarded
 * message:", Thunderbird's "-------- Forwarded Message --------", and their
 * translations.
 */
const FORWARD_MARKER =
  /^\s*(?:-{2,}\s*(?:forwarded message|original message|weitergeleitete nachricht|urspr\u00fcngliche nachricht|message transf\u00e9r\u00e9|message d'origine|mensaje (?:original|reenviado)|messaggio (?:originale|inoltrato)|doorgestuurd bericht|oorspronkelijk bericht|vidarebefordrat meddelande)\s*-{2,}|begin forwarded message:|_{10,})\s*$/i;
/** The forwarded header fields that decide (their names in the clients' languages): From and Subject. */
const FORWARDED_FROM = /^(?:from|de|von|da|van|fr\u00e5n)$/i;
const FORWARDED_SUBJECT = /^(?:subject|objet|betreff|oggetto|asunto|assunto|onderwerp|\u00e4mne)$/i;

/**
 * A message forwarded inline, rebuilt from the forward's text: the header
 * fields under the marker, then what follows them. Lines quoted with ">"
 * (Apple Mail quotes the whole forward) are unquoted first. Null when the
 * text has no marker followed by a From and a Subject.
 */
function forwardedInline(text: string): string | null {
  const lines = linesOf(text, MAX_REPORT_LINES + MAX_FORWARDED_LINES);
  const marker = lines.slice(0, MAX_REPORT_LINES).findIndex((line) => FORWARD_MARKER.test(unquoted(line)));
  if (marker < 0) return null;
  const rest = lines.slice(marker + 1, marker + 1 + MAX_FORWARDED_LINES).map(unquoted);
  let start = 0;
  while (start < rest.length && !rest[start]!.trim()) start++;
  const fields: Field[] = [];
  let end = start;
  for (; end < rest.length && end < start + MAX_FORWARDED_FIELDS; end++) {
    const field = /^([A-Za-z\u00c0-\u00ff][\w\u00c0-\u00ff-]*)[ \t]*:[ \t]*(.*)$/.exec(rest[end]!);
    if (!field) break;
    fields.push({ name: field[1]!, value: field[2]!.trim() });
  }
  const from = fields.find((field) => FORWARDED_FROM.test(field.name));
  const subject = fields.find((field) => FORWARDED_SUBJECT.test(field.name));
  if (!from || !subject) return null;
  const others = fields.filter((field) => field !== from && field !== subject && !/[^\x21-\x7e]/.test(field.name));
  const header = [`From: ${from.value}`, `Subject: ${subject.value}`, ...others.map((field) => `${field.name}: ${field.value}`)];
  return `${header.join("\n")}\n\n${rest.slice(end).join("\n")}`;
}

/** Header fields read under a forward marker (From, Sent, To, Cc, Subject and kin). */
const MAX_FORWARDED_FIELDS = 12;

/** A line without the ">" of a quote ("> text", ">> text", ">text"). */
function unquoted(line: string): string {
  return line.replace(/^(?:> ?){1,5}/, "");
}
