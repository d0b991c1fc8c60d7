/**
 * Header text for the mail we write. The encoding is nodemailer's
 * (`nodemailer/lib/mime-funcs`, the encoder half of libmime, without its
 * charset tables): RFC 2047 encoded words, RFC 2231 parameters, folding.
 * What stays here is our policy: mailboxes as Odoo's `formataddr` writes
 * them (an ASCII name always quoted, IDN domains in punycode), base64
 * words, and which text must be encoded.
 */
import { encodeWord, foldLines, quoteString } from "nodemailer/lib/mime-funcs";
import type { Mailbox } from "../model";

/**
 * Encoded words of at most 52 characters (30 UTF-8 bytes) in unstructured
 * text, as nodemailer writes them: after `Subject: ` or a fold, a line
 * holding one stays within 76 (RFC 2047 2).
 */
const TEXT_WORD = 52;
/**
 * A display name gets words of up to 68 characters (42 bytes; nodemailer's
 * limit counts in whole base64 quanta), so most names are one word and
 * `From: =?…?=` still fits 76. Fewer words matter: Python without the
 * gh-128110 fix (3.11 here; Odoo parses mail with Python's `email`) keeps
 * the space between two encoded words of a name, which RFC 2047 6.2 drops.
 */
const NAME_WORD = 70;
/** A word longer than this cannot be folded to fit a line (998, RFC 5322 2.1.1): the text is encoded, and encoded words split it. */
const MAX_PLAIN_WORD = 900;

function isAsciiPrintable(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

/** Base64 encoded words, spelt `=?utf-8?b?` as Odoo (Python's email.charset) and our earlier mail spell them; case is not significant (RFC 2047 2). */
function encodeWords(text: string, maxLength: number): string {
  return encodeWord(text, "B", maxLength).replaceAll("=?UTF-8?B?", "=?utf-8?b?");
}

/**
 * Unstructured text (Subject, custom headers): as is when it is printable
 * ASCII, else base64 encoded words, the whole text (as nodemailer does:
 * some readers drop the spaces around an encoded word). Text that would
 * read as an encoded word (`=?`) and words too long to fold are encoded too.
 */
export function encodeText(text: string): string {
  const plain = isAsciiPrintable(text) && !text.includes("=?") && text.split(" ").every((word) => word.length <= MAX_PLAIN_WORD);
  return plain ? text : encodeWords(text, TEXT_WORD);
}

/** The domain in punycode (Odoo's `formataddr` IDNA-encodes it). */
export function asciiDomain(address: string): string {
  const at = address.lastIndexOf("@");
  const domain = address.slice(at + 1);
  return isAsciiPrintable(domain) ? address : `${address.slice(0, at)}@${new URL(`http://${domain}`).hostname}`;
}

/**
 * Odoo's `formataddr((name, address))`: an ASCII name quoted (`\` and `"`
 * escaped), a non-ASCII name (or one that would read as an encoded word)
 * as encoded words, no name: the bare address. Unfolded: `headerLine`
 * folds the line it goes in.
 */
export function formatMailbox(mailbox: Mailbox): string {
  const address = asciiDomain(mailbox.address);
  if (!mailbox.name) return address;
  const plain = isAsciiPrintable(mailbox.name) && !mailbox.name.includes("=?");
  const name = plain ? quoteString(mailbox.name) : encodeWords(mailbox.name, NAME_WORD);
  return `${name} <${address}>`;
}

/**
 * One header field, `Name: value`, folded at its spaces so lines stay
 * within 78 characters where the words allow (RFC 5322 2.1.1), 76 when
 * they hold encoded words (RFC 2047 2). The value must already be encoded
 * (`encodeText`, `formatMailbox`, or nodemailer's `buildHeaderValue` for
 * parameters).
 */
export function headerLine(name: string, value: string): string {
  // foldLines keeps each line shorter than the length it is given.
  return foldLines(`${name}: ${value}`, value.includes("=?") ? 77 : 79);
}
