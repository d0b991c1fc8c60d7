/**
 * Message-ID handling. Ids are compared as whole strings, angle brackets
 * included, exactly as Odoo compares `mail.message.message_id`; nothing is
 * ever parsed out of an id.
 */
import { sha256Hex } from "../hash";

/** Odoo's `unfold_references`: every `<...>` id, with the folding whitespace inside removed. */
export function unfoldReferences(value: string | undefined | null): string[] {
  if (!value) return [];
  const ids: string[] = [];
  for (const match of value.matchAll(/<[^<>]+>/g)) ids.push(match[0].replace(/[\r\n\t ]/g, ""));
  return ids;
}

/** The id of a Message-ID header: its first `<...>`, or the bare value wrapped in brackets. */
export function messageIdOf(value: string | undefined | null): string | null {
  const [first] = unfoldReferences(value);
  if (first) return first;
  const bare = value?.replace(/\s+/g, "");
  return bare ? `<${bare}>` : null;
}

/**
 * Ids Odoo marks as "start a new thread" contain `reply_to`; a reply to one
 * must be routed by its Reply-To alias, not treated as a reply (Odoo's
 * `message_route`, step 2).
 */
export function isNewThreadMarker(id: string): boolean {
  return id.includes("reply_to");
}

/**
 * Odoo tags the bounces its gateway sends with this in References; a reply
 * to one is dropped before routing (`_detect_loop_headers`).
 */
export const LOOP_BOUNCE_TAG = "-loop-detection-bounce-email@";

/** The ids reply detection looks up: References (else In-Reply-To), unfolded, `reply_to` ids skipped, the last 32. */
export function replyCandidates(references: string | undefined, inReplyTo: string | undefined): string[] {
  return unfoldReferences(references?.trim() ? references : inReplyTo)
    .filter((id) => !isNewThreadMarker(id))
    .slice(-32);
}

/** Our own header carrying our Message-ID, which survives relays that rewrite Message-ID. */
export const OWN_MESSAGE_ID_HEADER = "X-Mailgate-Message-Id";

/** Fields relays add in transit: they differ between two deliveries of the same mail. */
const TRANSIT_FIELD = /^(received|return-path|delivered-to|x-original-to|arc-.*|authentication-results|received-spf|x-.*)$/;

/**
 * A stable id for mail without a Message-ID, so that the sender's retries of
 * the same mail are still recognised as duplicates while two different
 * messages are not: a hash of the header fields the sender wrote and of
 * the start of the body (bytes already read with the header block).
 */
export async function syntheticMessageId(headers: { key: string; value: string }[], bodyStart: Uint8Array): Promise<string> {
  const fields = headers.filter((h) => !TRANSIT_FIELD.test(h.key)).map((h) => `${h.key}:${h.value}\n`);
  const text = new TextEncoder().encode(`${fields.join("")}\n`);
  const input = new Uint8Array(text.byteLength + bodyStart.byteLength);
  input.set(text);
  input.set(bodyStart, text.byteLength);
  return `<${await sha256Hex(input, 16)}@no-message-id.mailgate.invalid>`;
}
