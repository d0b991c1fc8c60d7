/**
 * What happened to one recipient of a message we sent, whoever told us: a
 * provider's event (webhook or Cloudflare's event queue), a DSN mailed to
 * our VERP address, or the SMTP answer at send time. Every source becomes
 * these values; one module applies them (src/events/apply.ts), so each has
 * the same effects whatever relay carried the mail.
 */

export type RecipientEventKind = "delivered" | "deferred" | "bounced" | "complained" | "failed" | "unsubscribed";

/** Where a recipient's status was learned: the relay's answer at send time, a DSN, the provider's event, or our own List-Unsubscribe link or address. */
export type EventSource = "smtp" | "dsn" | "provider_event" | "list_unsubscribe";

/** What event hooks report: every recipient event, and `sent` (the relay took the message for that recipient). */
export type OutboundEventType = RecipientEventKind | "sent";

export interface RecipientEvent {
  kind: RecipientEventKind;
  /** The id the provider answered at send time, normalized by the reader to the form the relay stores it in (see each provider module). */
  providerMessageId: string;
  /** The recipient as the provider names it (canonicalized when applied). */
  recipient: string;
  /** RFC 3463 status (`5.1.1`) when the provider gives or implies one. */
  status: string | null;
  /** The remote server's answer or the provider's explanation. */
  diagnostic: string | null;
  /** A bounce that will not pass later (the mailbox does not exist, a permanent policy refusal). */
  hard: boolean;
  /** The provider's own id of this event (replays carry the same), else a digest the reader makes of the event's content. */
  eventId: string;
  /** When it happened, in ms since the epoch (the provider's time, else the time we read it). */
  occurredAt: number;
  /** The provider says it will not send to this address any more (its own suppression list). */
  providerSuppressed: boolean;
}

/** A request to `POST /hooks/relays/{id}` as the reader sees it. */
export interface HookRequest {
  method: string;
  url: string;
  headers: Headers;
  /** The body exactly as received (signatures are over these bytes, as text). */
  body: string;
}

/** What the relay's sealed `config.events` holds for this provider (see each module). */
export type EventsConfig = Record<string, string>;

export type Verification = { ok: true } | { ok: false; reason: string; stale?: boolean };

export type HookReading =
  | { kind: "events"; events: RecipientEvent[] }
  /** SNS asks us to confirm a subscription by fetching this URL (after the message was verified). */
  | { kind: "confirm_subscription"; url: string }
  /** A request the provider sends that carries nothing to apply (a test ping, an unknown type). */
  | { kind: "ignored"; why: string }
  | { kind: "invalid"; reason: string };

/** One provider's webhook: how its requests are verified and read. Pure: no bindings, no fetch. */
export interface ProviderHook {
  verify(request: HookRequest, config: EventsConfig, now: number): Promise<Verification>;
  read(request: HookRequest): Promise<HookReading>;
}

/** Signed requests older than this are refused (where the scheme carries a time). */
export const MAX_EVENT_AGE_MS = 5 * 60_000;
