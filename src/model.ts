/**
 * The domain's values: what a mailbox, a destination, a stream or a relay
 * type is. A leaf module (it imports nothing), so the pure rules, the D1
 * schema and the API all speak of the same things without depending on
 * each other.
 */

/** An address with its decoded display name (empty when there is none). */
export type Mailbox = { name: string; address: string };

/** Where an alias delivers its mail. */
export type Destination =
  | { type: "store" }
  | { type: "forward"; to: string }
  /** `inline_max_bytes`: attachments up to this size go in the payload itself (base64); larger ones by signed URL only. */
  | { type: "webhook"; url: string; inline_max_bytes?: number }
  /**
   * Handed to an Odoo database through its external API (`message_process`),
   * as `odoo-mailgate.py` does. `api_key` is sealed at rest (src/secrets.ts)
   * and never returned; `model` null lets Odoo route by its own aliases.
   * `bounces`: bounce reports arriving at the alias's domain are handed to
   * this database too (src/inbound/record.ts), so Odoo's counters move.
   */
  | {
      type: "odoo";
      url: string;
      db: string;
      login: string;
      api_key: string;
      model?: string | null;
      thread_id?: number | null;
      save_original?: boolean;
      strip_attachments?: boolean;
      bounces?: boolean;
    };

export const ALIAS_CONTACT_POLICIES = ["everyone", "known", "followers"] as const;
/** Who may write to an alias (Odoo's `alias_contact`). */
export type AliasContactPolicy = (typeof ALIAS_CONTACT_POLICIES)[number];
/** Odoo's `alias_status`: `invalid` marks a configuration error found while routing. */
export type AliasStatus = "not_tested" | "valid" | "invalid";

export const SUPPRESSION_REASONS = ["hard_bounce", "soft_bounces", "complaint", "unsubscribed", "manual", "provider"] as const;
/**
 * Why an address gets no more mail: a hard bounce, Odoo's repeated-bounce
 * rule, a complaint, an unsubscribe (for one stream), an operator, or the
 * relay's provider telling us it suppresses the address itself.
 */
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

export type MessageDirection = "in" | "out";
export type InboundStatus = "accepted" | "refused" | "dropped";
export type OutboundStatus = "queued" | "sent" | "failed" | "bounced";
/** Transactional mail and mass mail go through relays of their own stream. */
export type Stream = "transactional" | "mass";

/** `notify`: copies to the thread's followers, through the outbound pipeline. */
export type DeliveryType = Destination["type"] | "notify" | "event_hook";
export type DeliveryStatus = "pending" | "delivered" | "failed";

export type RelayType = "cloudflare" | "smtp" | "postmark" | "resend" | "ses" | "mailgun" | "sendgrid";

export type RecipientKind = "to" | "cc" | "bcc";
/** Where one recipient of an outbound message stands; later states win (see src/events/apply.ts). */
export type RecipientStatus = "pending" | "sent" | "deferred" | "delivered" | "failed" | "bounced" | "complained" | "unsubscribed";
