/**
 * One-click unsubscribe (RFC 2369 `List-Unsubscribe`, RFC 8058
 * `List-Unsubscribe-Post`), the pure half: the token that names who
 * unsubscribes, the two header fields, and the `unsubscribe+<token>@`
 * address. The HTTP pages and the lookup that applies a token live in
 * src/api/unsubscribe.ts; `email()` reads the address in
 * src/inbound/receive.ts.
 *
 * Token: the outbound message's 26 ULID characters, `-`, then 20 hex
 * characters (80 bits) of HMAC-SHA256 over the message id and the
 * recipient's canonical address, with its own key (purpose `unsubscribe`).
 * RFC 8058 3.1 wants the URI to identify the recipient and to carry a
 * hard-to-forge component the server verifies; a whole address does not
 * fit a 64-octet local part (`unsubscribe+` and the token take 59), and
 * would put the address in every proxy's log. So the recipient is not
 * written in the token but signed into it: the verifier reads the
 * message's recipients and takes the one the signature was made for. No
 * row is stored per token, a token for one recipient cannot be turned
 * into one for another, and a token does not expire: a link in an old
 * newsletter still unsubscribes (a dead one turns into a spam complaint).
 * Rotating SECRETS_KEY invalidates every token, as it does VERP addresses.
 * Lowercase throughout: mail systems may change the case of a local part,
 * and we lowercase addresses on the way in.
 */

import { secretsEqual } from "./hash";
import { domainOf, localPartOf } from "./mail/address";
import { hmacHex } from "./secrets";

/** The local part of the unsubscribe address, `unsubscribe+<token>@<domain>`: distinct from the bounce address `<bounce>+<token>@`. */
export const UNSUBSCRIBE_LOCAL_PART = "unsubscribe";
/** Where the Worker answers a token: `<PUBLIC_URL>/unsubscribe/<token>`. */
export const UNSUBSCRIBE_PATH = "/unsubscribe/";
/** RFC 8058 3.1: the List-Unsubscribe-Post field holds this single key/value pair, and the POST body is the same pair. */
export const ONE_CLICK = "List-Unsubscribe=One-Click";

const SIGNATURE_LENGTH = 20;
const TOKEN = /^([0-9a-z]{26})-([0-9a-f]{20})$/;

const signed = (id: string, recipient: string) => `${id}\n${recipient}`;

/**
 * The token of one recipient of one message. The id is lowercased before
 * it is signed, as the token may come back lowercased; the recipient is
 * the canonical address the message's recipient row holds.
 */
export async function unsubscribeToken(secretsKey: string | undefined, messageRowId: string, recipient: string): Promise<string> {
  const id = messageRowId.replace(/^msg_/, "").toLowerCase();
  const signature = (await hmacHex(secretsKey, "unsubscribe", signed(id, recipient))).slice(0, SIGNATURE_LENGTH);
  return `${id}-${signature}`;
}

/** The message row a token claims to be about, from its form alone (nothing verified yet): the verifier reads that message's recipients. */
export function unsubscribeMessageOf(token: string): string | null {
  const match = TOKEN.exec(token.toLowerCase());
  return match ? `msg_${match[1]!.toUpperCase()}` : null;
}

/**
 * The recipient among `recipients` (the message's, canonical) whose token
 * this is, or null: a forged token, one of another message or one made
 * under another SECRETS_KEY names nobody. Each comparison is constant-time.
 */
export async function verifyUnsubscribeToken(secretsKey: string | undefined, token: string, recipients: string[]): Promise<string | null> {
  const match = TOKEN.exec(token.toLowerCase());
  if (!match) return null;
  for (const recipient of recipients) {
    const expected = (await hmacHex(secretsKey, "unsubscribe", signed(match[1]!, recipient))).slice(0, SIGNATURE_LENGTH);
    if (await secretsEqual(match[2]!, expected)) return recipient;
  }
  return null;
}

/** A domain as the unsubscribe address needs it: its name, and its bounce local part (which must not be taken for ours). */
export interface UnsubscribeDomain {
  name: string;
  bounce: string;
}

/**
 * Whether the domain can receive our unsubscribe address: one whose bounce
 * address is `unsubscribe@` keeps `unsubscribe+…@` for its VERP bounces.
 */
function takesUnsubscribeMail(domain: UnsubscribeDomain): boolean {
  return domain.bounce !== UNSUBSCRIBE_LOCAL_PART;
}

/** The token of an envelope recipient `unsubscribe+<token>@<a domain we serve>`, else null (the address is routed as any other). */
export function unsubscribeTokenOf(address: string, domains: UnsubscribeDomain[]): string | null {
  const domain = domains.find((d) => d.name === domainOf(address));
  const local = localPartOf(address).toLowerCase();
  if (!domain || !takesUnsubscribeMail(domain) || !local.startsWith(`${UNSUBSCRIBE_LOCAL_PART}+`)) return null;
  return local.slice(UNSUBSCRIBE_LOCAL_PART.length + 1);
}

/**
 * The header fields of a message that offers unsubscribing (RFC 2369 3.2,
 * RFC 8058 3.1): `List-Unsubscribe` with the HTTPS link first (the
 * preferred one, left to right) and the mailto address second, each in
 * angle brackets, comma-separated (compose folds the line after the comma,
 * never inside a URL); and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
 * when the link is HTTPS, as RFC 8058 makes one-click an HTTPS POST only.
 * Without a public URL only the mailto form is offered; without a domain
 * that takes our mail, only the link; with neither, no field at all.
 */
export function listUnsubscribeHeaders(input: { publicUrl: string | null | undefined; domain: UnsubscribeDomain | null; token: string }): Record<string, string> {
  const url = input.publicUrl ? `${input.publicUrl.replace(/\/+$/, "")}${UNSUBSCRIBE_PATH}${input.token}` : null;
  const mailto = input.domain && takesUnsubscribeMail(input.domain) ? `mailto:${UNSUBSCRIBE_LOCAL_PART}+${input.token}@${input.domain.name}` : null;
  const uris = [url, mailto].filter((u): u is string => u !== null);
  if (!uris.length) return {};
  return {
    "List-Unsubscribe": uris.map((u) => `<${u}>`).join(", "),
    ...(url?.startsWith("https://") && { "List-Unsubscribe-Post": ONE_CLICK }),
  };
}
