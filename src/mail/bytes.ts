/**
 * Bytes: base64 and hex through `node:buffer` (native in workerd with nodejs_compat, and in
 * Node): building a binary string for `btoa` costs far more, and mail
 * bodies can be tens of megabytes.
 */
import { Buffer } from "node:buffer";

/** Base64 of bytes, or of a string's UTF-8. */
export function toBase64(data: Uint8Array | string): string {
  return (typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data)).toString("base64");
}

/** Unpadded base64url (RFC 4648 §5), usable as is in URLs and tokens: API keys, webhook secrets. */
export function toBase64Url(data: Uint8Array): string {
  return Buffer.from(data).toString("base64url");
}

/** Base64 back to bytes, typed as a view of a plain ArrayBuffer, which WebCrypto takes (secrets.ts decrypts with it). */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  // Buffer.from never answers a SharedArrayBuffer view for base64 text.
  return Buffer.from(text, "base64") as Uint8Array<ArrayBuffer>;
}

/** Base64url (padded or not) back to bytes: what toBase64Url made (the console's flash cookie). */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  return Buffer.from(text, "base64url") as Uint8Array<ArrayBuffer>;
}

/** Lowercase hex, the form of every digest and HMAC we store, sign with or compare (hash.ts, secrets.ts). */
export function toHex(data: ArrayBuffer | Uint8Array): string {
  return Buffer.from(data instanceof Uint8Array ? data : new Uint8Array(data)).toString("hex");
}

/** The pieces one after the other, in one array. */
export function concatBytes(pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.byteLength, 0));
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.byteLength;
  }
  return out;
}
