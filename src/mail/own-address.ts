/**
 * Our own addresses: aliases, and each domain's catchall, bounce (with its
 * VERP form `bounce+…`) and notifications address. They never follow a
 * thread and are never notified: a notification to one of them comes back
 * to us (a wasted send at best, a loop at worst). Pure.
 */
import { domainOf, localPartOf } from "./address";

export interface OwnDomain {
  name: string;
  catchall: string;
  bounce: string;
  /** A local part (`notifications`) or a full address (Odoo's `default_from`). */
  defaultFrom: string;
}

export interface OwnAlias {
  address: string;
  name: string;
  localPartOnly: boolean;
}

/**
 * Whether a canonical address is ours. A local-part-only alias makes its
 * local part ours on our own domains only: elsewhere it is somebody else's
 * mailbox (`support@customer.example` is the customer's).
 */
export function isOwnAddress(address: string, domains: OwnDomain[], aliases: OwnAlias[]): boolean {
  if (aliases.some((a) => a.address === address)) return true;
  if (domains.some((d) => d.defaultFrom.includes("@") && d.defaultFrom === address)) return true;
  const domain = domains.find((d) => d.name === domainOf(address));
  if (!domain) return false;
  const local = localPartOf(address);
  return (
    local === domain.catchall ||
    local === domain.bounce ||
    local.startsWith(`${domain.bounce}+`) ||
    (!domain.defaultFrom.includes("@") && local === domain.defaultFrom) ||
    aliases.some((a) => a.localPartOnly && a.name === local)
  );
}
