/**
 * Addresses as MTAs print them in reports: the bounded ADDRESS pattern, and
 * the canonical form (normalizeAddress, remembered) every reader compares.
 */
import { normalizeAddress } from "../../mail/address";
import { typedText } from "./fields";

/**
 * A mailbox as MTAs print it, the local part plain or quoted (RFC 5321
 * §4.1.2). Every repetition is bounded, so matching stays linear.
 */
export const ADDRESS = String.raw`(?:"[^"\r\n\\]{1,64}"|[^\s<>()\[\]"',;:@\\]{1,64})@[\p{L}\p{N}_-]{1,63}(?:\.[\p{L}\p{N}_-]{1,63}){1,10}`;
const ADDRESS_IN_TEXT = new RegExp(`(${ADDRESS})`, "u");
const ADDRESS_ALONE = new RegExp(`^\\s*<?(${ADDRESS})>?\\s*$`, "u");
export const EVERY_ADDRESS = new RegExp(ADDRESS, "gu");

/** An address from a field value such as `rfc822; <a@b>` (RFC 3464 §2.1.1: address-type ";" address). */
export function addressFromTypedValue(value: string): string | null {
  return cleanAddress(typedText(value));
}

/** The address of a field value: the value itself, else the first address in it. */
export function cleanAddress(value: string): string | null {
  const address = (ADDRESS_ALONE.exec(value) ?? ADDRESS_IN_TEXT.exec(value))?.[1];
  return address ? canonical(address) : null;
}

/**
 * normalizeAddress, remembered: a report names its recipients again and
 * again (block after block, line after line), and each costs a URL parse.
 */
export function canonical(address: string): string | null {
  let known = canonicalAddresses.get(address);
  if (known === undefined) {
    if (canonicalAddresses.size >= MAX_REMEMBERED_ADDRESSES) canonicalAddresses.clear();
    known = normalizeAddress(address);
    canonicalAddresses.set(address, known);
  }
  return known;
}

const canonicalAddresses = new Map<string, string | null>();
const MAX_REMEMBERED_ADDRESSES = 1000;
