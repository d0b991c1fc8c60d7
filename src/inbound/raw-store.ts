/**
 * Raw MIME of accepted mail in R2, streamed: the header block we already
 * read goes first, then the rest of the message is piped through without
 * passing through JavaScript chunk by chunk.
 */

import { sha256Hex } from "../hash";
import type { SplitMessage } from "../mail/header-block";

/**
 * The key depends only on the delivery (Message-ID, recipient and sender),
 * so the sender retrying a delivery we failed overwrites the same object
 * instead of leaving an orphan, while another sender's message with the
 * same Message-ID never overwrites this one.
 */
export async function rawKeyFor(messageId: string, rcptTo: string, sender: string | null): Promise<string> {
  return `raw/${await sha256Hex(`${messageId}\n${rcptTo}\n${sender ?? ""}`, 16)}.eml`;
}

/**
 * R2 needs a stream of known length; `rawSize` gives it (a
 * `FixedLengthStream` fails the upload if the message is not that long).
 */
export async function storeRaw(bucket: R2Bucket, key: string, split: SplitMessage, size: number): Promise<void> {
  const fixed = new FixedLengthStream(size);
  const upload = bucket.put(key, fixed.readable, { httpMetadata: { contentType: "message/rfc822" } });
  const feed = (async () => {
    const writer = fixed.writable.getWriter();
    for (const chunk of split.head) await writer.write(chunk);
    writer.releaseLock();
    await split.rest.pipeTo(fixed.writable);
  })();
  await Promise.all([upload, feed]);
}
