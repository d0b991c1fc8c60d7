/**
 * Addresses. Two forms, one rule each:
 *
 * - **written**: what goes on the wire (headers, the SMTP envelope, every
 *   provider's fields): an RFC 5322 `addr-spec` whose local part keeps its
 *   case and is quoted exactly when it is not a dot-atom, and whose domain is
 *   canonical (lowercase, IDNA, no trailing dot). One written address is
 *   always one mailbox, whatever it contains (`"a@b, c@d"@relay.example`).
 * - **canonical** (`normalizeAddress`): the key every lookup uses (contacts,
 *   suppression, followers, loop counters, allowed senders, recipients):
 *   the written form with the local part in Unicode NFC and lowercase.
 *   Odoo's `email_normalize` lowercases ASCII local parts only; we fold
 *   every local part, so a change of case cannot dodge a suppression.
 *
 * Addresses a user gives are parsed strictly by RFC 5322 (`email-addresses`,
 * with RFC 6532 UTF-8); header lists of inbound mail leniently by
 * postal-mime, as real mail needs.
 */
import emailAddresses from "email-addresses";
import { type Address, addressParser, decodeWords } from "postal-mime";
import type { Mailbox } from "../model";

/** An ASCII dot-atom (RFC 5322 3.2.3): a local part that needs no quoting. */
export const DOT_ATOM = /^[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~]+(\.[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;
/** RFC 5322 `atext`, widened by RFC 6532 to every non-ASCII character. */
const DOT_ATOM_UTF8 = /^[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+(?:\.[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+)*$/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
const CONTROL = /[\x00-\x1f\x7f]/;
const encoder = new TextEncoder();

/** RFC 5321 4.5.3.1: at most 64 octets in a local part, 253 in a domain (255 with the dot and length bytes), 63 in a label. */
const MAX_LOCAL_OCTETS = 64;
const MAX_DOMAIN_OCTETS = 253;
const MAX_LABEL_OCTETS = 63;
const LABEL = /^[a-z0-9-]+$/;

export type DomainCheck = { ok: true; domain: string } | { ok: false; reason: string };

/**
 * A domain in canonical form: lowercase, internationalized labels in
 * punycode (UTS 46 mapping, which also folds fullwidth forms and NFC), one
 * trailing dot dropped; refused with the reason when it cannot be a host
 * name: an empty label, a label starting or ending with `-` or longer than
 * 63 octets, more than 253 octets, a single label, a numeric top label.
 */
export function checkDomain(input: string): DomainCheck {
  const text = input.trim().replace(/\.$/, "");
  if (!text) return { ok: false, reason: "the domain is empty" };
  if (/[\s/\\@:?#[\]%<>"]/.test(text)) return { ok: false, reason: `the domain "${text}" holds a character a domain name cannot have` };
  if (text.startsWith(".") || text.includes("..")) return { ok: false, reason: `the domain "${text}" has an empty label` };
  let ascii: string;
  try {
    ascii = new URL(`http://${text}`).hostname;
  } catch {
    return { ok: false, reason: `"${text}" is not a valid internationalized domain name` };
  }
  const labels = ascii.split(".");
  if (labels.some((l) => l === "")) return { ok: false, reason: `the domain "${text}" has an empty label` };
  if (labels.length < 2) return { ok: false, reason: `the domain "${text}" has a single label (a mail domain has at least two)` };
  for (const label of labels) {
    if (label.length > MAX_LABEL_OCTETS) return { ok: false, reason: `the label "${label.slice(0, 20)}…" of the domain is longer than ${MAX_LABEL_OCTETS} octets` };
    if (label.startsWith("-") || label.endsWith("-")) return { ok: false, reason: `the label "${label}" of the domain starts or ends with "-"` };
    if (!LABEL.test(label)) return { ok: false, reason: `the label "${label}" of the domain holds characters a host name cannot have` };
  }
  if (ascii.length > MAX_DOMAIN_OCTETS) return { ok: false, reason: `the domain is ${ascii.length} octets long (at most ${MAX_DOMAIN_OCTETS})` };
  if (/^\d+$/.test(labels.at(-1)!)) return { ok: false, reason: `the domain "${text}" ends in a numeric label (an IP address is not a mail domain here)` };
  return { ok: true, domain: ascii };
}

/** The local part as an addr-spec writes it: bare when it is a dot-atom, else quoted (RFC 5322 3.2.4). */
export function writtenLocalPart(local: string): string {
  return DOT_ATOM_UTF8.test(local) ? local : `"${local.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The local part with its quoting undone (`"a b"` → `a b`). */
function unquoted(local: string): string {
  return local.length >= 2 && local.startsWith('"') && local.endsWith('"') ? local.slice(1, -1).replace(/\\(.)/g, "$1") : local;
}

function splitAddress(address: string): { local: string; domain: string } | null {
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) return null;
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

/** The lookup key of a local part (already unquoted): NFC, lowercase. */
function canonicalLocal(local: string): string {
  return local.normalize("NFC").toLowerCase();
}

/**
 * The canonical form (the lookup key) of an address in any spelling:
 * quoted or not, any case, NFD or NFC, a trailing dot, an IDN or fullwidth
 * domain. Null when it is not an address at all.
 */
export function normalizeAddress(address: string): string | null {
  const parts = splitAddress(address.trim());
  if (!parts) return null;
  const domain = checkDomain(parts.domain);
  if (!domain.ok) return null;
  const local = canonicalLocal(unquoted(parts.local));
  if (!local || CONTROL.test(local)) return null;
  return `${writtenLocalPart(local)}@${domain.domain}`;
}

/** The written form of an address read leniently (quoting made minimal, case kept, domain canonical). */
function writtenAddress(address: string): string | null {
  const parts = splitAddress(address.trim());
  if (!parts) return null;
  const domain = checkDomain(parts.domain);
  const local = unquoted(parts.local);
  if (!domain.ok || !local || CONTROL.test(local)) return null;
  return `${writtenLocalPart(local)}@${domain.domain}`;
}

export type AddressCheck = { ok: true; mailbox: Mailbox } | { ok: false; reason: string };

/** Why a string that is not one address was refused, in words a caller can act on. */
function whyNotAnAddress(value: string): string {
  const outsideQuotes = value.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  if (!outsideQuotes.includes("@")) return "it has no @";
  if (/,/.test(outsideQuotes) || (outsideQuotes.match(/@/g)?.length ?? 0) > 1) return "it holds more than one address (give one per list entry)";
  if (!outsideQuotes.includes("<") && /\S\s+\S/.test(outsideQuotes.trim())) return "a space outside quotes (quote the local part, or write Name <address>)";
  return "it is not an RFC 5322 address";
}

/**
 * One address a user gives (`a@b` or `Name <a@b>`), checked strictly: an
 * RFC 5322 mailbox (UTF-8 allowed, RFC 6532), no control characters, a
 * local part of at most 64 octets, a domain `checkDomain` accepts. The
 * address comes back in its written form; display names are decoded.
 */
export function parseAddressInput(value: string): AddressCheck {
  if (CONTROL.test(value)) return { ok: false, reason: "it holds a control character (CR, LF, tab...)" };
  // A trailing dot on the domain is the DNS root: dropped, as every mail system does.
  const text = value.trim().replace(/\.(>?)$/, "$1");
  const parsed = plainMailbox(text) ?? grammarMailbox(text);
  if (!parsed) return { ok: false, reason: whyNotAnAddress(text) };
  if (parsed.domain.startsWith("[")) return { ok: false, reason: "an address literal ([1.2.3.4]) is not accepted; give a domain" };
  const domain = checkDomain(parsed.domain);
  if (!domain.ok) return domain;
  if (encoder.encode(parsed.local).byteLength > MAX_LOCAL_OCTETS) return { ok: false, reason: `the local part is longer than ${MAX_LOCAL_OCTETS} octets` };
  return { ok: true, mailbox: { name: parsed.name ? decodeWords(parsed.name) : "", address: `${writtenLocalPart(parsed.local)}@${domain.domain}` } };
}

interface MailboxParts {
  name: string | null;
  local: string;
  domain: string;
}

/**
 * The common shapes, read without the grammar (which costs ~50 µs an
 * address): `a@b`, `Name <a@b>` and `"Name" <a@b>` with an ASCII dot-atom
 * local part and an ASCII display name of plain words. Anything else goes
 * to the RFC 5322 grammar; what this accepts, the grammar accepts the same.
 */
const PLAIN_ADDRESS = String.raw`([A-Za-z0-9!#$%&'*+\/=?^_\`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+\/=?^_\`{|}~-]+)*)@([A-Za-z0-9.-]+)`;
const PLAIN = new RegExp(
  String.raw`^(?:${PLAIN_ADDRESS}|(?:"([\x20\x21\x23-\x5b\x5d-\x7e]*)"|([A-Za-z0-9!#$%&'*+\/=?^_\`{|}~-]+(?: [A-Za-z0-9!#$%&'*+\/=?^_\`{|}~-]+)*)) ?<${PLAIN_ADDRESS}>)$`,
);

function plainMailbox(text: string): MailboxParts | null {
  const match = PLAIN.exec(text);
  if (!match) return null;
  return match[1] ? { name: null, local: match[1], domain: match[2]! } : { name: match[3] ?? match[4] ?? null, local: match[5]!, domain: match[6]! };
}

/**
 * RFC 5322 `mailbox` by `email-addresses` (RFC 6532 UTF-8): strict, else
 * with the obsolete syntax only in the display name (`J. Smith <j@b>`,
 * which people write), never in the address (`a . b@c`).
 */
function grammarMailbox(text: string): MailboxParts | null {
  const strict = emailAddresses.parseOneAddress({ input: text, rfc6532: true, strict: true, startAt: "mailbox" });
  if (strict?.type === "mailbox") return strict;
  const lenient = emailAddresses.parseOneAddress({ input: text, rfc6532: true, strict: false, startAt: "mailbox" });
  if (lenient?.type !== "mailbox") return null;
  return /[\s()]/.test(lenient.parts.local.tokens.trim()) || /[\s()]/.test(lenient.parts.domain.tokens.trim()) ? null : lenient;
}

/**
 * Every mailbox of an inbound address header (groups flattened), names
 * decoded, canonical addresses, keeping only entries that hold an `@`
 * (Odoo's `email_split_tuples`). Lenient: real mail is not always RFC 5322.
 */
export function parseMailboxes(value: string): Mailbox[] {
  const out: Mailbox[] = [];
  for (const entry of addressParser(value, { flatten: true })) {
    if (!entry.address) continue;
    const address = normalizeAddress(entry.address);
    if (address) out.push({ name: entry.name, address });
  }
  return out;
}

/** After the last `@`: a quoted local part may hold `@` itself (`"a@b"@example.com`). */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}

/** The local part as text: its quoting undone (`"a b"@x` → `a b`). */
export function localPartText(address: string): string {
  return unquoted(localPartOf(address));
}

/** Up to the last `@`, quoting kept (`localPartText` undoes it); the whole text when there is no `@`. */
export function localPartOf(address: string): string {
  const at = address.lastIndexOf("@");
  return at < 0 ? address : address.slice(0, at);
}

/**
 * The mailboxes postal-mime parsed from an address header of a message we
 * composed (groups flattened), in written form: case kept, quoting exact
 * (postal-mime unquotes a bare quoted local part, which would turn one
 * mailbox into two when written again).
 */
export function mailboxes(list: Address[] | Address | undefined): Mailbox[] {
  const out: Mailbox[] = [];
  const add = (name: string, address: string) => {
    const written = writtenAddress(address);
    if (written) out.push({ name, address: written });
  };
  for (const entry of Array.isArray(list) ? list : list ? [list] : []) {
    if (entry.address) add(entry.name, entry.address);
    for (const member of entry.group ?? []) add(member.name, member.address);
  }
  return out;
}

/** Whether two addresses, in any spelling, are the same mailbox. */
export function sameAddress(a: string, b: string): boolean {
  const x = normalizeAddress(a);
  return x !== null && x === normalizeAddress(b);
}
