/**
 * Message-ID handling. Ids are compared as whole strings, angle brackets
 * included, exactly as Odoo compares `mail.message.message_id`; nothing is
 * ever parsed out of an id.
 */

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

/**
 * A stable id for mail without a Message-ID, so that the sender's retries of
 * the same mail are still recognized as duplicates.
 */
export async function syntheticMessageId(parts: (string | null | undefined)[]): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.map((p) => p ?? "").join("\n")));
  const hex = [...new Uint8Array(digest).slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `<${hex}@no-message-id.mailgate.invalid>`;
}
