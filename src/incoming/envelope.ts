/**
 * The SMTP envelope of a message fetched from a mailbox, rebuilt from its
 * headers (the envelope itself is gone once mail sits in a mailbox). Pure.
 */
import type { Header } from "postal-mime";
import { normalizeAddress, parseMailboxes } from "../mail/address";

/**
 * The envelope sender of a fetched message: its Return-Path (the address
 * the last MTA recorded, `<>` for a bounce: then empty), else its From.
 */
export function envelopeSenderOf(headers: Header[]): string {
  const returnPath = headers.find((h) => h.key === "return-path")?.value.trim();
  if (returnPath !== undefined) {
    if (/^<\s*>$/.test(returnPath)) return "";
    const address = normalizeAddress(returnPath.replace(/^<|>$/g, ""));
    if (address) return address;
  }
  const from = headers.find((h) => h.key === "from")?.value;
  return (from && parseMailboxes(from)[0]?.address) ?? "";
}
