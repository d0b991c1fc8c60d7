/**
 * Parsing a whole stored message (postal-mime). What postal-mime refuses
 * (MIME nested deeper than it allows, headers over its size limit) will be
 * refused on every try: the refusal is a value with its reason, so the work
 * that needed the parse fails at once instead of being retried for hours.
 */
import PostalMime, { type Email, type PostalMimeOptions } from "postal-mime";

export type Parsed = { ok: true; email: Email } | { ok: false; reason: string };

/** Never throws: callers fail the work at once with the reason, where a throw would have the queue retry it. */
export async function parseMessage(raw: ArrayBuffer | Uint8Array | string, options: PostalMimeOptions = {}): Promise<Parsed> {
  try {
    return { ok: true, email: await PostalMime.parse(raw, options) };
  } catch (error) {
    return { ok: false, reason: `the message cannot be parsed: ${error instanceof Error ? error.message : String(error)}` };
  }
}
