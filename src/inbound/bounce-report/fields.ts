/**
 * Shared helpers for header fields and text: the top header fields the
 * reader looks at (and nothing else), bounded line splitting, RFC 822-style
 * field blocks (DSN parts, feedback reports, returned headers), and the
 * small text utilities every reader uses. Pure, no state.
 */
import type { Header } from "postal-mime";
import { MAX_DIAGNOSTIC_CHARS, MAX_FIELD_CHARS, MAX_LINE_CHARS } from "./limits";
import type { Field } from "./types";

/**
 * The top header fields the reader looks at; the parser is handed no others
 * (readFieldsOnly in parse.ts). A lookup of any other name does not compile.
 */
const READ_FIELDS = [
  "from",
  "subject",
  "return-path",
  "reply-to",
  "content-type",
  "content-transfer-encoding",
  "mime-version",
  "auto-submitted",
  "precedence",
  "x-failed-recipients",
  "x-ms-exchange-message-is-ndr",
  "x-autoreply",
  "x-autorespond",
  "x-apple-action",
  "x-apple-unsubscribe",
  "x-mlserver",
] as const;
export type ReadField = (typeof READ_FIELDS)[number];
export const READ_FIELD_NAMES = new Set<string>(READ_FIELDS);

/** The first value of a top header field. `ReadField` keeps lookups to the fields the parser keeps: a name outside READ_FIELDS does not compile. */
export function headerValue(headers: Header[], key: ReadField): string | undefined {
  return headers.find((header) => header.key === key)?.value;
}

/** Every value of a field that may repeat (Exim starts a new X-Failed-Recipients every 50 addresses). */
export function headerValues(headers: Header[], key: ReadField): string[] {
  return headers.filter((header) => header.key === key).map((header) => header.value);
}

/**
 * The first lines of a text (any line ending: LF, CRLF or bare CR): at most
 * `maxLines`, each cut to MAX_LINE_CHARS, and at most `maxChars` in all.
 */
export function linesOf(text: string, maxLines: number, maxChars = Infinity): string[] {
  const lines: string[] = [];
  let chars = 0;
  // Scanned up to the budget only (no split of the whole text): callers cut the same text several times.
  for (let at = 0; at <= text.length && lines.length < maxLines && chars < maxChars; ) {
    const lf = text.indexOf("\n", at);
    const end = lf < 0 ? text.length : lf;
    const line = text.slice(at, lf > at && text[lf - 1] === "\r" ? lf - 1 : end);
    for (const piece of line.includes("\r") ? line.split("\r") : [line]) {
      if (lines.length >= maxLines || chars >= maxChars) break;
      const cut = piece.slice(0, Math.min(MAX_LINE_CHARS, maxChars - chars));
      lines.push(cut);
      chars += cut.length;
    }
    at = end + 1;
  }
  return lines;
}

/** The first `bytes` of a part's content. */
export function prefixOf(content: ArrayBuffer | Uint8Array | string, bytes: number): ArrayBuffer | Uint8Array | string {
  if (typeof content === "string") return content.slice(0, bytes);
  return content instanceof Uint8Array ? content.subarray(0, bytes) : new Uint8Array(content, 0, Math.min(bytes, content.byteLength));
}

/** A part's content as text, read as UTF-8: the fields of DSNs and feedback reports are ASCII, which UTF-8 reads the same. */
export function decodeText(content: ArrayBuffer | Uint8Array | string): string {
  return typeof content === "string" ? content : new TextDecoder("utf-8").decode(content);
}

/** The text after the type of a typed field (`smtp; 550 ...`, `dns; mx.example`). */
export function typedText(value: string): string {
  const semicolon = value.indexOf(";");
  return (semicolon < 0 ? value : value.slice(semicolon + 1)).trim();
}

/**
 * Header-style field blocks (RFC 3464 §2, RFC 5965 §3): fields separated
 * into blocks by blank lines, continuation lines folded in. Lines that are
 * not fields are skipped.
 */
export function fieldBlocks(text: string, maxLines: number): Field[][] {
  const blocks: Field[][] = [];
  let block: Field[] = [];
  for (const line of linesOf(text, maxLines)) {
    if (line.trim() === "") {
      if (block.length) blocks.push(block);
      block = [];
      continue;
    }
    const last = block[block.length - 1];
    if (/^[ \t]/.test(line) && last) {
      if (last.value.length < MAX_FIELD_CHARS) last.value = `${last.value} ${line.trim()}`.slice(0, MAX_FIELD_CHARS);
      continue;
    }
    const field = /^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$/.exec(line);
    if (field) block.push({ name: field[1]!.toLowerCase(), value: field[2]!.trim() });
  }
  if (block.length) blocks.push(block);
  return blocks;
}

/** A case-insensitive pattern for any of these phrases (regex sources), as whole words. */
export function phrases(sources: string[]): RegExp {
  return new RegExp(`\\b(?:${sources.join("|")})\\b`, "i");
}

/**
 * Whitespace collapsed and cut to MAX_DIAGNOSTIC_CHARS, as diagnostics are
 * stored and shown and a server may send pages of them; nothing left reads
 * as null.
 */
export function clip(text: string | null | undefined): string | null {
  const squeezed = text?.replace(/\s+/g, " ").trim();
  return squeezed ? squeezed.slice(0, MAX_DIAGNOSTIC_CHARS) : null;
}

/** Duplicates dropped, first occurrence kept: readers keep recipients in the order the report names them. */
export function unique(values: string[]): string[] {
  return [...new Set(values)];
}
