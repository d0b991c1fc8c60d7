/**
 * Header encoding for the mail we write: RFC 2047 encoded words for
 * non-ASCII text, Odoo's `formataddr` for addresses, and folding so no line
 * exceeds 78 characters where it can be helped (never 998). mimetext builds
 * the message structure; these make its header lines correct for any text.
 */
import type { Mailbox } from "../db/schema";
import { toBase64 } from "./base64";

const ASCII_PRINTABLE = /^[\x20-\x7e]*$/;
/** An encoded word may be 75 characters: `=?utf-8?b?` (10) + base64 + `?=` (2) leaves 63, i.e. 45 bytes. */
const MAX_WORD_BYTES = 45;
/** RFC 2047 2: a line holding an encoded word is at most 76 characters. */
const MAX_ENCODED_LINE = 76;

export function isAsciiPrintable(text: string): boolean {
  return ASCII_PRINTABLE.test(text);
}

/**
 * RFC 2047 B-encoded words of at most 75 characters, split between
 * characters (never inside a UTF-8 sequence), separated by a space. The
 * first word is short enough to share its line with what comes before it
 * on the line (`prefix` characters, e.g. `Subject: `), so every line stays
 * within 76 characters once folded.
 */
export function encodeWords(text: string, prefix = 0): string {
  const encoder = new TextEncoder();
  const words: string[] = [];
  let chunk = "";
  let chunkBytes = 0;
  // Base64 of n bytes takes 4 * ceil(n / 3) characters, plus 12 for `=?utf-8?b?` and `?=`.
  const firstBytes = Math.max(3, Math.min(MAX_WORD_BYTES, Math.floor((MAX_ENCODED_LINE - prefix - 12) / 4) * 3));
  for (const char of text) {
    const size = encoder.encode(char).byteLength;
    if (chunkBytes + size > (words.length ? MAX_WORD_BYTES : firstBytes) && chunk) {
      words.push(chunk);
      chunk = "";
      chunkBytes = 0;
    }
    chunk += char;
    chunkBytes += size;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?utf-8?b?${toBase64(w)}?=`).join(" ");
}

/** A word longer than this cannot be folded to fit a line: encode (encoded words split it). */
const MAX_PLAIN_WORD = 900;

/** Unstructured text (Subject, custom headers): as is when printable ASCII, else encoded words (see `encodeWords` for `prefix`). */
export function encodeText(text: string, prefix = 0): string {
  return isAsciiPrintable(text) && text.split(" ").every((word) => word.length <= MAX_PLAIN_WORD) ? text : encodeWords(text, prefix);
}

/** The domain in punycode (Odoo's `formataddr` IDNA-encodes it). */
export function asciiDomain(address: string): string {
  const at = address.lastIndexOf("@");
  const domain = address.slice(at + 1);
  return isAsciiPrintable(domain) ? address : `${address.slice(0, at)}@${new URL(`http://${domain}`).hostname}`;
}

/**
 * Odoo's `formataddr((name, address))`: an ASCII name quoted with `\\` and
 * `"` escaped, a non-ASCII name as encoded words, no name: the bare address.
 */
export function formatMailbox(mailbox: Mailbox, prefix = 0): string {
  const address = asciiDomain(mailbox.address);
  if (!mailbox.name) return address;
  const name = isAsciiPrintable(mailbox.name) ? `"${mailbox.name.replace(/[\\"]/g, (c) => `\\${c}`)}"` : encodeWords(mailbox.name, prefix);
  return `${name} <${address}>`;
}

/** Folds a header value at spaces so lines stay within 78 characters where the words allow (RFC 5322 2.1.1). */
export function fold(name: string, value: string): string {
  const words = value.split(" ");
  const lines: string[] = [];
  let line = `${name}:`;
  for (const word of words) {
    if (line.length + 1 + word.length > 78 && line.length > name.length + 1) {
      lines.push(line);
      line = ` ${word}`;
    } else {
      line += ` ${word}`;
    }
  }
  lines.push(line);
  return lines.join("\r\n");
}
