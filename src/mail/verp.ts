/**
 * VERP bounce addresses: `<bounce>+<token>@<domain>`, where the token names
 * the outbound message and carries an HMAC, so a forged bounce naming one
 * of our messages cannot act on it (the bounce-processing side verifies).
 *
 * Token: the message id's 26 ULID characters, `-`, then 10 hex characters of
 * HMAC-SHA256(id). Lowercase throughout: mail systems may change the case of
 * a local part, and we lowercase addresses on the way in. The `+` and the
 * token take 38 characters, so a bounce local part of up to 26 keeps the
 * address within the 64 a local part may have.
 */
import { secretsEqual } from "../hash";
import { hmacHex } from "../secrets";

const SIGNATURE_LENGTH = 10;

/** The id is lowercased before it is signed, as the address may come back lowercased; `verifyVerpToken` signs the same form. */
export async function verpToken(secretsKey: string | undefined, messageRowId: string): Promise<string> {
  const id = messageRowId.replace(/^msg_/, "").toLowerCase();
  const signature = (await hmacHex(secretsKey, "verp", id)).slice(0, SIGNATURE_LENGTH);
  return `${id}-${signature}`;
}

/** The envelope sender of one outbound message (src/outbound/draft.ts): a bounce to it names the message, whatever the report itself says. */
export async function verpAddress(secretsKey: string | undefined, bounceLocalPart: string, domain: string, messageRowId: string): Promise<string> {
  return `${bounceLocalPart}+${await verpToken(secretsKey, messageRowId)}@${domain}`;
}

/** The message row id a token names, when its signature verifies; null otherwise. */
export async function verifyVerpToken(secretsKey: string | undefined, token: string): Promise<string | null> {
  const match = /^([0-9a-z]{26})-([0-9a-f]{10})$/.exec(token.toLowerCase());
  if (!match) return null;
  const expected = (await hmacHex(secretsKey, "verp", match[1]!)).slice(0, SIGNATURE_LENGTH);
  return (await secretsEqual(match[2]!, expected)) ? `msg_${match[1]!.toUpperCase()}` : null;
}
