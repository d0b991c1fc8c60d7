/** SHA-256 digests as hex, and comparing secrets without leaking them through timing. */
import { toHex } from "./mail/bytes";

const encoder = new TextEncoder();

/** SHA-256 of text (UTF-8) or bytes, as lowercase hex; `bytes` keeps only the digest's first bytes (short keys). */
export async function sha256Hex(data: string | Uint8Array<ArrayBuffer>, bytes = 32): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", typeof data === "string" ? encoder.encode(data) : data);
  return toHex(new Uint8Array(digest, 0, bytes));
}

/**
 * Whether a secret given (a token, a signature) equals the one expected, in
 * constant time. Both are hashed first, so they have the same length and
 * neither the content nor the length of the expected one leaks through timing.
 */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = (await Promise.all([sha256(given), sha256(expected)])).map((digest) => new Uint8Array(digest)) as [Uint8Array, Uint8Array];
  // Every byte is looked at whatever the others hold (no early exit): the time does not depend on the content.
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(text));
}
