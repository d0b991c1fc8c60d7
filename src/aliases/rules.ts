/**
 * What makes an alias valid, as pure rules over the facts read for it:
 * Odoo's name sanitising, a domain we serve (and not its catchall or
 * bounce address), no forward back into our own domains, webhook and
 * Odoo URLs that pass the address check, one signing secret per alias,
 * one Odoo destination per Odoo database. Problems are
 * values, worded once; the API turns them into answers.
 */

import { checkWebhookUrl } from "../deliveries/webhook-url";
import { DOT_ATOM, domainOf } from "../mail/address";
import type { Destination } from "../model";

/**
 * Odoo's `_sanitize_alias_name` (17/18): accents removed, lowercased, the
 * part before any `@`, dots trimmed and collapsed, other characters that
 * are not allowed in a local part replaced by `-`, ASCII only.
 */
export function sanitizeAliasName(value: string): string {
  return value
    .trim()
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .split("@")[0]!
    .replace(/^\.+|\.+$/g, "")
    .replace(/\.{2,}/g, ".")
    .replace(/[^a-z0-9_!#$%&'*+\-/=?^`{|}~.]+/g, "-");
}

export interface AliasDraft {
  name: string;
  domain: string | null;
  destinations: Destination[];
  localPartOnly: boolean;
  threadId: string | null;
}

/** What the rules need to know: the domains we serve and whether the pinned thread exists. */
export interface AliasFacts {
  domains: { name: string; catchall: string; bounce: string }[];
  threadExists: boolean;
  allowPrivateWebhooks: boolean;
}

export type AliasProblem =
  | { reason: "invalid_name"; name: string }
  | { reason: "no_domain_without_local_part" }
  | { reason: "unknown_domain"; domain: string }
  | { reason: "reserved_address"; address: string; role: "catchall" | "bounce" }
  | { reason: "forward_loop"; to: string }
  | { reason: "webhook_url"; why: string }
  | { reason: "odoo_url"; why: string }
  | { reason: "two_odoo_destinations"; target: string }
  | { reason: "odoo_thread_without_model" }
  | { reason: "unknown_thread"; threadId: string }
  | { reason: "two_webhook_secrets" };

export type AliasCheck = { ok: true; name: string; address: string } | { ok: false; problem: AliasProblem };

/** Checks an alias as it would be stored; answers its sanitized name and address. */
export function checkAlias(draft: AliasDraft, facts: AliasFacts): AliasCheck {
  const refuse = (problem: AliasProblem): AliasCheck => ({ ok: false, problem });
  const name = sanitizeAliasName(draft.name);
  if (!DOT_ATOM.test(name)) return refuse({ reason: "invalid_name", name: draft.name });
  if (draft.domain === null && !draft.localPartOnly) return refuse({ reason: "no_domain_without_local_part" });
  if (draft.domain !== null) {
    const domain = facts.domains.find((d) => d.name === draft.domain);
    if (!domain) return refuse({ reason: "unknown_domain", domain: draft.domain });
    if (name === domain.catchall || name === domain.bounce) {
      return refuse({ reason: "reserved_address", address: `${name}@${domain.name}`, role: name === domain.catchall ? "catchall" : "bounce" });
    }
  }
  for (const destination of draft.destinations) {
    // Forwarding into a domain we serve would hand the mail back to us: a loop.
    if (destination.type === "forward" && facts.domains.some((d) => d.name === domainOf(destination.to))) return refuse({ reason: "forward_loop", to: destination.to });
    if (destination.type === "webhook") {
      const checked = checkWebhookUrl(destination.url, facts.allowPrivateWebhooks);
      if (!checked.ok) return refuse({ reason: "webhook_url", why: checked.reason });
    }
    if (destination.type === "odoo") {
      const why = odooUrlProblem(destination.url, facts.allowPrivateWebhooks);
      if (why) return refuse({ reason: "odoo_url", why });
      // Odoo posts on `thread_id` only as a record of `model` (message_route's fallback route).
      if (destination.thread_id && !destination.model) return refuse({ reason: "odoo_thread_without_model" });
    }
  }
  // One database gets a message once: two destinations into it would make two records (and count a bounce twice).
  const odooTargets = draft.destinations.flatMap((d) => (d.type === "odoo" ? [destinationTarget(d)!] : []));
  const twice = odooTargets.find((t, i) => odooTargets.indexOf(t) !== i);
  if (twice) return refuse({ reason: "two_odoo_destinations", target: twice });
  if (draft.threadId && !facts.threadExists) return refuse({ reason: "unknown_thread", threadId: draft.threadId });
  return { ok: true, name, address: draft.domain ? `${name}@${draft.domain}` : name };
}

/**
 * Why an Odoo URL cannot be used, or null: the webhook rules (https, no
 * private or loopback address), and no query or fragment, since the API
 * paths (`/xmlrpc/2/common`, `/xmlrpc/2/object`) are appended to it.
 * Checked when the alias is saved and again before each delivery.
 */
export function odooUrlProblem(url: string, allowPrivate: boolean): string | null {
  const checked = checkWebhookUrl(url, allowPrivate);
  if (!checked.ok) return checked.reason;
  if (checked.url.search || checked.url.hash || url.includes("#")) return "must not have a query or a fragment (the XML-RPC paths are added to it)";
  return null;
}

/** An Odoo URL with an API path appended: `https://odoo.example.com/erp/` and `…/erp` both give `…/erp/xmlrpc/2/common`. */
export function odooEndpoint(url: string, path: "common" | "object"): string {
  return `${url.replace(/\/+$/, "")}/xmlrpc/2/${path}`;
}

/**
 * What a delivery row names as its target, so a delivery finds its
 * destination again among the alias's (which may have changed meanwhile):
 * a forward's address, a webhook's URL, an Odoo database as `<url>#<db>`
 * (an Odoo URL has no fragment, so `#` cannot be part of it); null for store.
 */
export function destinationTarget(destination: Destination): string | null {
  switch (destination.type) {
    case "store":
      return null;
    case "forward":
      return destination.to;
    case "webhook":
      return destination.url;
    case "odoo":
      return `${destination.url}#${destination.db}`;
  }
}

type OdooDestination = Extract<Destination, { type: "odoo" }>;

/**
 * A destination as a request gives it: a webhook may carry the signing
 * secret to use; an Odoo destination's `api_key` is in clear (the API
 * seals it), and may be left out to keep the stored one.
 */
export type DestinationInput = Destination | (Extract<Destination, { type: "webhook" }> & { secret?: string }) | (Omit<OdooDestination, "api_key"> & { api_key?: string });

/** The destinations as stored (without any secret, each once), and the webhook secret the request gave, if any. */
export function splitDestinations(list: DestinationInput[]): { ok: true; destinations: Destination[]; secret: string | null } | { ok: false; problem: AliasProblem } {
  const seen = new Set<string>();
  let secret: string | null = null;
  const destinations: Destination[] = [];
  for (const item of list) {
    const { secret: given, ...destination } = item as DestinationInput & { secret?: string };
    if (given) {
      if (secret && secret !== given) return { ok: false, problem: { reason: "two_webhook_secrets" } };
      secret = given;
    }
    const key = JSON.stringify(destination);
    if (!seen.has(key)) {
      seen.add(key);
      destinations.push(destination as Destination);
    }
  }
  return { ok: true, destinations, secret };
}

/** Whether the problem is in the request itself (400) rather than in what it refers to (422). */
export function isMalformed(problem: AliasProblem): boolean {
  switch (problem.reason) {
    case "invalid_name":
    case "no_domain_without_local_part":
    case "webhook_url":
    case "odoo_url":
    case "odoo_thread_without_model":
    case "two_webhook_secrets":
      return true;
    case "unknown_domain":
    case "reserved_address":
    case "forward_loop":
    case "unknown_thread":
    case "two_odoo_destinations":
      return false;
  }
}

/** Each problem worded once, for the API's error message; where there is a fix (a call to make first, a field to set) the text names it. */
export function aliasProblemText(problem: AliasProblem): string {
  switch (problem.reason) {
    case "invalid_name":
      return `invalid body: name: "${problem.name}" does not make a valid local part`;
    case "no_domain_without_local_part":
      return "invalid body: an alias without a domain matches by local part only: set local_part_only to true";
    case "unknown_domain":
      return `domain ${problem.domain} is not configured: PUT /v1/domains/${problem.domain} first`;
    case "reserved_address":
      return `${problem.address} is the domain's ${problem.role} address`;
    case "forward_loop":
      return `forwarding to ${problem.to} would loop: ${domainOf(problem.to)} is served by mailgate`;
    case "webhook_url":
      return `invalid body: destinations: the webhook URL ${problem.why}`;
    case "odoo_url":
      return `invalid body: destinations: the Odoo URL ${problem.why}`;
    case "odoo_thread_without_model":
      return "invalid body: destinations: an Odoo destination's thread_id is a record of its model: set model too";
    case "two_odoo_destinations":
      return `two destinations deliver into the same Odoo database (${problem.target}): keep one`;
    case "unknown_thread":
      return `thread ${problem.threadId} does not exist`;
    case "two_webhook_secrets":
      return "invalid body: destinations: one alias has one webhook secret; give the same one (or one only)";
  }
}
