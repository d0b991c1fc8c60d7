/**
 * The SMTP protocol's pure pieces (RFC 5321), apart from the socket so they
 * are tested in plain Node: reading replies, dot-stuffing, what a reply
 * says of a recipient, and a timeout on any wait.
 */
import { readSyncRefusal } from "../../inbound/bounce-report";
import { type RecipientResult, RelayError } from "./types";

export interface Reply {
  code: number;
  text: string;
}

/** Whether an envelope address can go without SMTPUTF8 (RFC 6531), which any non-ASCII character needs. */
export function isAscii(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII includes the control characters.
  return /^[\x00-\x7f]*$/.test(text);
}

/** Lines starting with "." get another "." (RFC 5321 4.5.2); the data ends with CRLF. */
export function dotStuff(data: Uint8Array): Uint8Array {
  const starts: number[] = [];
  for (let i = data.indexOf(0x2e); i !== -1; i = data.indexOf(0x2e, i + 1)) {
    if (i === 0 || data[i - 1] === 0x0a) starts.push(i);
  }
  const endsWithCrlf = data.length >= 2 && data[data.length - 2] === 0x0d && data[data.length - 1] === 0x0a;
  const out = new Uint8Array(data.length + starts.length + (endsWithCrlf ? 0 : 2));
  let from = 0;
  let to = 0;
  for (const start of starts) {
    out.set(data.subarray(from, start), to);
    to += start - from;
    out[to++] = 0x2e;
    from = start;
  }
  out.set(data.subarray(from), to);
  to += data.length - from;
  if (!endsWithCrlf) out.set([0x0d, 0x0a], to);
  return out;
}

/**
 * Whether the header block holds 8-bit bytes (internationalized addresses).
 * Bodies we compose are always 7-bit (base64 or plain ASCII), so only the
 * header block is scanned, which keeps a 25 MiB message cheap.
 */
export function hasEightBitHeader(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) {
    const byte = data[i]!;
    if (byte > 0x7f) return true;
    if (byte === 0x0a && data[i + 1] === 0x0d && data[i + 2] === 0x0a) return false;
  }
  return false;
}

/** Resolves as `promise` does, or rejects with a RelayError saying `late` (code `timeout`) after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, late: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new RelayError(late, "timeout")), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

/** What one reply says of one recipient: sent, deferred (4xx), or failed (5xx), with what a 5xx says of the mailbox. */
export function resultOf(address: string, reply: Reply): RecipientResult {
  const code = String(reply.code);
  if (reply.code < 300) return { address, status: "sent", code, message: reply.text };
  if (reply.code < 500) return { address, status: "deferred", code, message: reply.text };
  const bounce = readSyncRefusal(code, reply.text);
  return { address, status: "failed", code, message: reply.text, ...(bounce && { bounce }) };
}

/** Reads SMTP replies (multi-line `250-...` until `250 ...`) from a socket. */
export class ReplyReader {
  private buffer = "";
  private readonly decoder = new TextDecoder();

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async next(timeoutMs: number): Promise<Reply> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.line(timeoutMs);
      // RFC 5321 4.2: the code, then "-" (more lines follow), a space and text, or nothing.
      const match = /^(\d{3})(?:([ -])(.*))?$/.exec(line);
      if (!match) throw new RelayError(`malformed SMTP reply: ${line.slice(0, 200)}`);
      lines.push(match[3] ?? "");
      if (match[2] !== "-") return { code: Number(match[1]), text: lines.join("\n") };
    }
  }

  private async line(timeoutMs: number): Promise<string> {
    for (;;) {
      const end = this.buffer.indexOf("\r\n");
      if (end !== -1) {
        const line = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return line;
      }
      const { done, value } = await within(this.reader.read(), timeoutMs, `no reply from the SMTP server within ${timeoutMs} ms`);
      if (done) throw new RelayError("the SMTP server closed the connection", "connection_closed");
      this.buffer += this.decoder.decode(value, { stream: true });
      if (this.buffer.length > 1_000_000) throw new RelayError("the SMTP server sent an overlong reply");
    }
  }

  release(): void {
    this.reader.releaseLock();
  }
}
