/**
 * Reads the header block off the front of a raw message stream and parses
 * it, leaving the body unread. Routing depends on headers only, so a 25 MiB
 * message costs the same CPU to route as a 2 KB one.
 */
import PostalMime, { type Header } from "postal-mime";

/** Headers past this size are not read (postal-mime's own default cap is 2 MiB over all parts). */
export const MAX_HEADER_BYTES = 256 * 1024;

const LF = 0x0a;
const CR = 0x0d;

export interface SplitMessage {
  /** The header block, up to and including the blank line that ends it. */
  header: Uint8Array;
  /** Every chunk read so far (the header and the start of the body), in order. */
  head: Uint8Array[];
  /** The same stream, unlocked, positioned after `head`. */
  rest: ReadableStream<Uint8Array>;
}

/**
 * Reads chunks until the blank line that ends the header block (LF LF, CRLF
 * CRLF or, in a message with bare CR line ends, CR CR), or until
 * `maxBytes`, or the end of the stream.
 */
export async function readHeaderBlock(raw: ReadableStream<Uint8Array>, maxBytes = MAX_HEADER_BYTES): Promise<SplitMessage> {
  const reader = raw.getReader();
  const head: Uint8Array[] = [];
  let total = 0;
  let headerEnd = -1;
  // The bytes before the current one, across chunks; the message starts at a line start.
  let previous = LF;
  let beforePrevious = 0;
  let sawLf = false;
  try {
    while (headerEnd < 0 && total < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.byteLength === 0) continue;
      head.push(value);
      const limit = Math.min(value.byteLength, maxBytes - total);
      for (let i = 0; i < limit; i++) {
        const byte = value[i]!;
        if (byte === LF) {
          sawLf = true;
          if (previous === LF || (previous === CR && beforePrevious === LF)) {
            headerEnd = total + i + 1;
            break;
          }
        } else if (byte === CR && previous === CR && !sawLf) {
          headerEnd = total + i + 1;
          break;
        }
        beforePrevious = previous;
        previous = byte;
      }
      total += value.byteLength;
    }
  } finally {
    reader.releaseLock();
  }
  const headerLength = headerEnd >= 0 ? headerEnd : Math.min(total, maxBytes);
  return { header: slice(head, 0, headerLength), head, rest: raw };
}

/** Bytes `start` to `end` of the concatenated chunks (fewer if the chunks end sooner). */
function slice(chunks: Uint8Array[], start: number, end: number): Uint8Array {
  const out = new Uint8Array(
    Math.max(
      0,
      Math.min(
        end,
        chunks.reduce((n, c) => n + c.byteLength, 0),
      ) - start,
    ),
  );
  let position = 0;
  for (const chunk of chunks) {
    const from = Math.max(start - position, 0);
    const to = Math.min(end - position, chunk.byteLength);
    if (from < to) out.set(chunk.subarray(from, to), position + from - start);
    position += chunk.byteLength;
    if (position >= end) break;
  }
  return out;
}

/** Up to `max` bytes of the body that were read along with the header block (no further read). */
export function bodyStart(split: SplitMessage, max = 4096): Uint8Array {
  return slice(split.head, split.header.byteLength, split.header.byteLength + max);
}

/** Every header field in order, duplicates kept, values unfolded (postal-mime). */
export async function parseHeaderBlock(header: Uint8Array): Promise<Header[]> {
  const parsed = await PostalMime.parse(header, { maxHeadersSize: MAX_HEADER_BYTES * 2 });
  return parsed.headers;
}
