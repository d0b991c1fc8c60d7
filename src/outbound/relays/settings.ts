/**
 * What a stored relay's settings mean, without building it: its types,
 * which settings are credentials, its size limit, its envelope rules.
 * Pure, so planning (src/outbound/plan.ts) and the API use it without
 * loading any relay's transport.
 */
import type { relays } from "../../db/schema";
import type { RelayType } from "../../model";

export type RelayRow = typeof relays.$inferSelect;

export const RELAY_TYPES = ["cloudflare", "smtp", "postmark", "resend", "ses", "mailgun", "sendgrid"] as const satisfies readonly RelayType[];

/** Which settings of each type are credentials: sealed at rest, never returned. */
export const SECRET_FIELDS: Record<RelayType, readonly string[]> = {
  cloudflare: [],
  smtp: ["password", "oauth"],
  postmark: ["server_token", "events"],
  resend: ["api_key", "events"],
  ses: ["secret_access_key", "session_token", "events"],
  mailgun: ["api_key", "events"],
  sendgrid: ["api_key", "events"],
};

/** Credentials that are objects, sealed as JSON strings among the others: event webhook settings, OAuth clients. */
export const JSON_SECRETS: readonly string[] = ["events", "oauth"];

/** The largest message (composed MIME, bytes) each service takes, from its documentation. */
export const DEFAULT_MAX_SIZE: Record<RelayType, number> = {
  cloudflare: 5 * 1024 * 1024,
  smtp: 25 * 1024 * 1024,
  postmark: 10_000_000,
  resend: 40_000_000,
  ses: 40 * 1024 * 1024,
  mailgun: 25_000_000,
  sendgrid: 30_000_000,
};

/**
 * The `max_size` the operator set in the relay's config, else what the
 * service documents; draftMessage refuses larger messages before anything
 * is queued.
 */
export function maxSizeOf(relay: Pick<RelayRow, "type" | "config">): number {
  const configured = relay.config.max_size;
  return typeof configured === "number" ? configured : DEFAULT_MAX_SIZE[relay.type];
}

/**
 * Relays whose service requires the envelope sender to be the From address
 * (Cloudflare Email Service rejects "From: header does not match mail
 * from"); it handles bounces itself, so no VERP there.
 */
export function envelopeIsFrom(relay: Pick<RelayRow, "type">): boolean {
  return relay.type === "cloudflare";
}

/** `fixed_sender`: the one account a relay may send as. When set it is the From and the envelope sender, the author's name kept (rewrite-from.ts). */
export function fixedSenderOf(relay: Pick<RelayRow, "config">): string | null {
  const fixed = relay.config.fixed_sender;
  return typeof fixed === "string" && fixed ? fixed : null;
}
