/**
 * Address helpers with Odoo's semantics (`odoo/tools/mail.py`): parsing is
 * postal-mime's `addressParser`; normalization is Odoo's `email_normalize`.
 */
import { type Address, addressParser } from "postal-mime";
import type { Mailbox } from "../db/schema";

const ASCII = /^[\x00-\x7f]*$/;

/** A domain in its canonical form: lowercase, internationalized names in punycode (null if invalid). */
export function canonicalDomain(domain: string): string | null {
  const lower = domain.toLowerCase();
  if (ASCII.test(lower)) return lower;
  try {
    return new URL(`http://${lower}`).hostname;
  } catch {
    return null;
  }
}

/**
 * Odoo's `email_normalize`: the local part is lowercased when it is ASCII,
 * the domain always. Beyond Odoo, the domain is also put in punycode, the
 * form we store domains in, so `a@bücher.example` and
 * `a@xn--bcher-kva.example` are one address. Null when there is no `@`.
 */
export function normalizeAddress(address: string): string | null {
  const trimmed = address.trim();
  const at = trimmed.lastIndexOf("@");
  if (at <= 0 || at === trimmed.length - 1) return null;
  const local = trimmed.slice(0, at);
  const domain = canonicalDomain(trimmed.slice(at + 1));
  if (!domain) return null;
  return `${ASCII.test(local) ? local.toLowerCase() : local}@${domain}`;
}

/**
 * Every mailbox of an address header (groups flattened), names decoded,
 * keeping only entries that hold an `@` (Odoo's `email_split_tuples`).
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

/**
 * Parses one address given by a user or an envelope (`"Name" <a@b>` or
 * `a@b`) and returns its normalized address, or null unless it holds
 * exactly one address (Odoo's strict `email_normalize`).
 */
export function parseSingleAddress(value: string): Mailbox | null {
  const list = parseMailboxes(value);
  return list.length === 1 ? list[0]! : null;
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}

export function localPartOf(address: string): string {
  const at = address.lastIndexOf("@");
  return at < 0 ? address : address.slice(0, at);
}

/** The mailboxes postal-mime parsed from an address header, groups flattened (addresses lowercased as they come). */
export function mailboxes(list: Address[] | Address | undefined): Mailbox[] {
  const out: Mailbox[] = [];
  for (const entry of Array.isArray(list) ? list : list ? [list] : []) {
    if (entry.address) out.push({ name: entry.name, address: entry.address.toLowerCase() });
    for (const member of entry.group ?? []) out.push({ name: member.name, address: member.address.toLowerCase() });
  }
  return out;
}
