/**
 * D1 schema. Migrations in `migrations/` are generated from this file by
 * drizzle-kit (`npm run db:generate`) and applied by `wrangler d1 migrations`.
 *
 * Times are integer milliseconds since the epoch. Ids are prefixed,
 * time-ordered strings (see `src/ids.ts`), so `ORDER BY id` is creation order
 * and an id is a stable pagination cursor.
 */
import { sql } from "drizzle-orm";
import { type AnySQLiteColumn, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { StoredDecision } from "../decision";
import type { EventSource, OutboundEventType } from "../events/types";
import type {
  AliasContactPolicy,
  AliasStatus,
  DeliveryStatus,
  DeliveryType,
  Destination,
  Mailbox,
  MessageDirection,
  RecipientKind,
  RecipientStatus,
  RelayType,
  Stream,
  SuppressionReason,
} from "../model";

const createdAt = () => integer("created_at", { mode: "timestamp_ms" }).notNull();
const updatedAt = () => integer("updated_at", { mode: "timestamp_ms" }).notNull();

/** A mail domain we serve (Odoo's `mail.alias.domain`). */
export const domains = sqliteTable("domains", {
  name: text("name").primaryKey(),
  companyName: text("company_name"),
  catchall: text("catchall").notNull().default("catchall"),
  bounce: text("bounce").notNull().default("bounce"),
  /** A local part (`notifications`) or a full address. */
  defaultFrom: text("default_from").notNull().default("notifications"),
  /** Where people should write instead of the catchall (Odoo's company e-mail). */
  contactEmail: text("contact_email"),
  sequence: integer("sequence").notNull().default(10),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const aliases = sqliteTable(
  "aliases",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    domain: text("domain").references(() => domains.name, { onDelete: "restrict" }),
    /** `name@domain`, or `name` alone for an alias on no domain (Odoo's `alias_full_name`). */
    address: text("address").notNull(),
    destinations: text("destinations", { mode: "json" }).$type<Destination[]>().notNull(),
    contact: text("contact").$type<AliasContactPolicy>().notNull().default("everyone"),
    localPartOnly: integer("local_part_only", { mode: "boolean" }).notNull().default(false),
    threadId: text("thread_id").references((): AnySQLiteColumn => threads.id, { onDelete: "set null" }),
    refusalText: text("refusal_text"),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    addSenderAsFollower: integer("add_sender_as_follower", { mode: "boolean" }).notNull().default(false),
    /** Who follows every thread the alias opens (Odoo: the model's default subscribers), and so is notified of its mail. */
    followers: text("followers", { mode: "json" }).$type<Mailbox[]>().notNull().default(sql`'[]'`),
    status: text("status").$type<AliasStatus>().notNull().default("not_tested"),
    /** Days the raw copies of this alias's mail stay in R2, instead of the setting (0: forever); null: the setting. */
    rawRetentionDays: integer("raw_retention_days"),
    /** Webhook signing secrets, AES-GCM sealed JSON (src/webhooks/secrets.ts): the current one and, during a rotation, the previous one. */
    webhookSecrets: text("webhook_secrets"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex("aliases_address").on(t.address), index("aliases_name").on(t.name)],
);

/** A conversation (Odoo's record with its chatter). */
export const threads = sqliteTable("threads", {
  id: text("id").primaryKey(),
  subject: text("subject"),
  aliasId: text("alias_id").references(() => aliases.id, { onDelete: "set null" }),
  /** The domain the conversation lives on (its alias's, or the one its first outbound message was sent from): notifications and replies use it. */
  domain: text("domain"),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const followers = sqliteTable(
  "followers",
  {
    threadId: text("thread_id")
      .notNull()
      .references(() => threads.id, { onDelete: "cascade" }),
    email: text("email").notNull(),
    name: text("name"),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.threadId, t.email] }), index("followers_email").on(t.email)],
);

export const contacts = sqliteTable("contacts", {
  email: text("email").primaryKey(),
  name: text("name"),
  bounceCount: integer("bounce_count").notNull().default(0),
  lastBounceAt: integer("last_bounce_at", { mode: "timestamp_ms" }),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/** Senders exempt from the sender loop guard (Odoo's `mail.gateway.allowed`). */
export const allowedSenders = sqliteTable("allowed_senders", {
  email: text("email").primaryKey(),
  createdAt: createdAt(),
});

/** One row (id 1); a missing row means every default applies. */
export const settings = sqliteTable("settings", {
  id: integer("id").primaryKey(),
  loopMinutes: integer("loop_minutes").notNull().default(120),
  loopThreshold: integer("loop_threshold").notNull().default(20),
  allowedDomains: text("allowed_domains", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  /** Days raw mail stays in R2 (0: forever); an alias may say otherwise. */
  rawRetentionDays: integer("raw_retention_days").notNull().default(90),
  /** Days message records stay in D1 (0: forever). */
  recordRetentionDays: integer("record_retention_days").notNull().default(400),
  updatedAt: updatedAt(),
});

/** Every message in or out. Inbound: one row per `email()` event, whatever its outcome. */
export const messages = sqliteTable(
  "messages",
  {
    id: text("id").primaryKey(),
    direction: text("direction").$type<MessageDirection>().notNull(),
    status: text("status").notNull(),
    /** The RFC 5322 Message-ID with its angle brackets. */
    messageId: text("message_id").notNull(),
    mailFrom: text("mail_from").notNull(),
    rcptTo: text("rcpt_to").notNull(),
    fromAddress: text("from_address"),
    fromName: text("from_name"),
    to: text("to", { mode: "json" }).$type<Mailbox[]>().notNull(),
    cc: text("cc", { mode: "json" }).$type<Mailbox[]>().notNull(),
    subject: text("subject"),
    size: integer("size").notNull(),
    rawKey: text("raw_key"),
    /** The routing decision and trace (src/decision.ts); what the code acts on has columns of its own. */
    decision: text("decision", { mode: "json" }).$type<StoredDecision>().notNull(),
    // Outbound only: the relay chosen when the message was accepted, who sent it, and the
    // delivery state the queue consumer works from.
    relayId: text("relay_id"),
    /** Our VERP address for the message's bounces (its envelope sender where the relay allows it). */
    bounceAddress: text("bounce_address"),
    apiKeyId: text("api_key_id"),
    stream: text("stream").$type<Stream>(),
    /** A consumer holds the message until then (so a queue redelivery does not send it twice). */
    leaseUntil: integer("lease_until", { mode: "timestamp_ms" }),
    /** When the queue should deliver it next; the sweeper re-enqueues what is overdue. */
    nextAttemptAt: integer("next_attempt_at", { mode: "timestamp_ms" }),
    attemptCount: integer("attempt_count").notNull().default(0),
    /** When the raw copy leaves R2: its alias's raw retention or the setting, from when it was received; null keeps it (src/retention.ts). */
    rawExpiresAt: integer("raw_expires_at", { mode: "timestamp_ms" }),
    /** Erased (`DELETE /v1/messages/{id}`): a tombstone without content or addresses (src/erasure.ts). */
    erasedAt: integer("erased_at", { mode: "timestamp_ms" }),
    /** Inbound mail fetched from a mailbox (src/incoming): the incoming server's id; null for mail Email Routing handed over. */
    fetchedFrom: text("fetched_from"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index("messages_message_id").on(t.messageId),
    index("messages_status").on(t.status, t.id),
    index("messages_due").on(t.direction, t.status, t.nextAttemptAt),
    // The retention sweep walks only the raw copies whose time has come, soonest first.
    index("messages_raw_expiry").on(t.rawExpiresAt).where(sql`raw_key is not null and raw_expires_at is not null`),
  ],
);

/**
 * The threads a message belongs to, one row per route taken. `route_key` is
 * `alias:<id>` for mail that opened a thread on an alias, `thread:<id>` for
 * mail that joined an existing thread. The unique index on
 * (`message_key`, `sender`, `route_key`) makes each route of a Message-ID
 * from one sender happen once, even when two deliveries of the same mail
 * race; the same Message-ID from another sender is another message (a
 * collision, or a forgery sent first), which takes its own routes.
 */
export const messageThreads = sqliteTable(
  "message_threads",
  {
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    threadId: text("thread_id")
      .notNull()
      .references(() => threads.id, { onDelete: "cascade" }),
    aliasId: text("alias_id"),
    messageKey: text("message_key").notNull(),
    /** Who sent it (the loop guard's sender: From, else MAIL FROM; canonical), empty for our own mail. */
    sender: text("sender").notNull().default(""),
    routeKey: text("route_key").notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.messageId, t.threadId] }),
    uniqueIndex("message_threads_route").on(t.messageKey, t.sender, t.routeKey),
    index("message_threads_thread").on(t.threadId, t.messageId),
    index("message_threads_alias").on(t.aliasId, t.messageId),
  ],
);

/** One destination of one accepted message: its state, for retries and replays. */
export const deliveries = sqliteTable(
  "deliveries",
  {
    id: text("id").primaryKey(),
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    aliasId: text("alias_id"),
    threadId: text("thread_id"),
    type: text("type").$type<DeliveryType>().notNull(),
    target: text("target"),
    status: text("status").$type<DeliveryStatus>().notNull(),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    /** Queue work (webhooks, notifications): when it is due; the sweeper re-queues what is overdue. */
    nextAttemptAt: integer("next_attempt_at", { mode: "timestamp_ms" }),
    /** A replay (`POST /v1/messages/{id}/redeliver`) names the delivery it repeats. */
    redeliveryOf: text("redelivery_of"),
    /** Event hooks: the outbound event this delivery reports. */
    eventId: integer("event_id"),
    /** Odoo deliveries: the id of the record `message_process` answered (the thread the mail went to). */
    recordId: integer("record_id"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index("deliveries_message").on(t.messageId), index("deliveries_due").on(t.status, t.nextAttemptAt)],
);

/** Every try of a queued delivery (a webhook POST, a notification run): what the other side answered. */
export const deliveryAttempts = sqliteTable(
  "delivery_attempts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    deliveryId: text("delivery_id")
      .notNull()
      .references(() => deliveries.id, { onDelete: "cascade" }),
    /** delivered, retry, gone (410: the receiver asked us to stop), failed. */
    result: text("result").notNull(),
    statusCode: integer("status_code"),
    error: text("error"),
    startedAt: integer("started_at", { mode: "timestamp_ms" }).notNull(),
    finishedAt: integer("finished_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("delivery_attempts_delivery").on(t.deliveryId, t.id)],
);

/** Bounces and complaints counted against an address, for the automatic suppression rule. */
export const bounceEvents = sqliteTable(
  "bounce_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    email: text("email").notNull(),
    /** The inbound report. */
    reportId: text("report_id").notNull(),
    /** The outbound message it is about. */
    originalId: text("original_id").notNull(),
    kind: text("kind").notNull(),
    status: text("status"),
    createdAt: createdAt(),
  },
  (t) => [index("bounce_events_email").on(t.email, t.createdAt), uniqueIndex("bounce_events_once").on(t.reportId, t.email)],
);

/** What happened to a message, in order: the trace the API shows. */
export const messageEvents = sqliteTable(
  "message_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    type: text("type").notNull(),
    detail: text("detail", { mode: "json" }).$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [index("message_events_message").on(t.messageId, t.id)],
);

/** An outgoing server (Odoo's `ir.mail_server`). Credentials are sealed in `secrets`, never returned. */
export const relays = sqliteTable("relays", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  type: text("type").$type<RelayType>().notNull(),
  /** Comma-separated domains and addresses this relay may send as (Odoo's `from_filter`); null = anything. */
  fromFilter: text("from_filter"),
  sequence: integer("sequence").notNull().default(10),
  stream: text("stream").$type<Stream>().notNull().default("transactional"),
  dailyLimit: integer("daily_limit"),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
  /** Settings that are not secret (host, port, region, fixed_sender, ...). */
  config: text("config", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
  /** AES-GCM sealed JSON of the secret settings (passwords, API keys). */
  secrets: text("secrets"),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/** Messages a relay took per UTC day, for its daily limit. */
export const relayUsage = sqliteTable(
  "relay_usage",
  {
    relayId: text("relay_id").notNull(),
    day: text("day").notNull(),
    count: integer("count").notNull(),
  },
  (t) => [primaryKey({ columns: [t.relayId, t.day] })],
);

export const apiKeys = sqliteTable("api_keys", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  /** SHA-256 of the key (hex); the key itself is shown once and never stored. */
  hash: text("hash").notNull().unique(),
  /** The key's first characters, to tell keys apart in lists. */
  prefix: text("prefix").notNull(),
  /** From domains the key may send as; null = any. */
  fromDomains: text("from_domains", { mode: "json" }).$type<string[]>(),
  createdAt: createdAt(),
  revokedAt: integer("revoked_at", { mode: "timestamp_ms" }),
});

/** `Idempotency-Key` of send requests, for 24 hours: the first answer, and what it answered. */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    /** The API key id, or `admin`. */
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    response: text("response", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] })],
);

/** Each recipient of an outbound message and where its delivery stands. */
export const outboundRecipients = sqliteTable(
  "outbound_recipients",
  {
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    address: text("address").notNull(),
    name: text("name"),
    kind: text("kind").$type<RecipientKind>().notNull(),
    status: text("status").$type<RecipientStatus>().notNull(),
    lastCode: text("last_code"),
    lastError: text("last_error"),
    /** Where the status was learned: the SMTP answer, a DSN, or the provider's event. */
    source: text("source").$type<EventSource>(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.messageId, t.address] }), index("outbound_recipients_address").on(t.address)],
);

/** Every delivery attempt of an outbound message through a relay. */
export const attempts = sqliteTable(
  "attempts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    relayId: text("relay_id").notNull(),
    result: text("result").notNull(),
    envelopeFrom: text("envelope_from"),
    providerMessageId: text("provider_message_id"),
    error: text("error"),
    /** Per recipient: status, SMTP or provider code, text. */
    recipients: text("recipients", { mode: "json" }).$type<{ address: string; status: string; code: string | null; message: string | null }[]>().notNull(),
    startedAt: integer("started_at", { mode: "timestamp_ms" }).notNull(),
    finishedAt: integer("finished_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("attempts_message").on(t.messageId, t.id)],
);

/**
 * The sender loop guard's counter (Odoo's `_detect_loop_sender`): one row
 * per accepted delivery and target (route key) within the window. Rows are
 * added by one conditional INSERT that counts and inserts atomically
 * (src/inbound/loop-guard.ts), so concurrent deliveries cannot all pass
 * the threshold; the scheduled sweeper deletes rows older than the window.
 */
export const loopEntries = sqliteTable(
  "loop_entries",
  {
    /** The canonical sender address. */
    sender: text("sender").notNull(),
    routeKey: text("route_key").notNull(),
    /** The delivery (Message-ID and envelope recipient): its retry finds its own entries and is not counted twice. */
    delivery: text("delivery").notNull(),
    at: integer("at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.sender, t.routeKey, t.delivery] }), index("loop_entries_window").on(t.sender, t.at), index("loop_entries_at").on(t.at)],
);

/**
 * Who gets no more mail, and why: one row per address and stream (`""`:
 * every stream). An unsubscribe from mass mail is scoped to `mass`, so a
 * password reset still goes out; bounces, complaints and operators
 * suppress for every stream.
 */
export const suppressions = sqliteTable(
  "suppressions",
  {
    email: text("email").notNull(),
    stream: text("stream").notNull().default(""),
    reason: text("reason").$type<SuppressionReason>().notNull(),
    /** The relay whose provider told us it suppresses the address (reason `provider`), or that holds it as well. */
    relayId: text("relay_id"),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.email, t.stream] })],
);

/**
 * What happened to each recipient of our outbound mail, from every source
 * (src/events/apply.ts): the trace `GET /v1/messages/{id}` shows and event
 * hooks report. `dedupe_key` is unique, so a replayed provider event or a
 * DSN read twice changes nothing twice.
 */
export const outboundEvents = sqliteTable(
  "outbound_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    recipient: text("recipient").notNull(),
    type: text("type").$type<OutboundEventType>().notNull(),
    status: text("status"),
    diagnostic: text("diagnostic"),
    source: text("source").$type<EventSource>().notNull(),
    relayId: text("relay_id"),
    dedupeKey: text("dedupe_key").notNull(),
    occurredAt: integer("occurred_at", { mode: "timestamp_ms" }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("outbound_events_once").on(t.dedupeKey), index("outbound_events_message").on(t.messageId, t.id)],
);

/**
 * The ids providers answered at send time, so their events find our
 * message: one per message (`recipient` empty), or one per recipient where
 * the provider answers one per recipient (Cloudflare Email Service).
 */
export const providerIds = sqliteTable(
  "provider_ids",
  {
    relayId: text("relay_id").notNull(),
    providerMessageId: text("provider_message_id").notNull(),
    recipient: text("recipient").notNull().default(""),
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
  },
  (t) => [primaryKey({ columns: [t.relayId, t.providerMessageId, t.recipient] }), index("provider_ids_message").on(t.messageId)],
);

/** Customers' subscriptions to what happens to the mail they send (`POST /v1/event-hooks`). */
export const eventHooks = sqliteTable("event_hooks", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  events: text("events", { mode: "json" }).$type<string[]>().notNull(),
  /** Sealed signing secrets, as aliases' webhook secrets (src/deliveries/signing.ts). */
  secrets: text("secrets").notNull(),
  /** The API key that made it (it sees only its own mail's events); null for the admin token (every message). */
  apiKeyId: text("api_key_id"),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/** What each retention sweep deleted (src/retention.ts), so it is visible and counted. */
export const retentionRuns = sqliteTable("retention_runs", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  ranAt: integer("ran_at", { mode: "timestamp_ms" }).notNull(),
  rawDeleted: integer("raw_deleted").notNull(),
  recordsDeleted: integer("records_deleted").notNull(),
  threadsDeleted: integer("threads_deleted").notNull(),
});

/**
 * Stored mail to purge, asked for when an alias or a domain is deleted with
 * `?purge=true`: the retention sweep deletes it in bounded batches and
 * counts what went (src/retention.ts).
 */
export const purges = sqliteTable("purges", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  /** `alias`: mail routed through it (by id); `domain`: mail to or from it. */
  kind: text("kind").$type<"alias" | "domain">().notNull(),
  target: text("target").notNull(),
  requestedAt: integer("requested_at", { mode: "timestamp_ms" }).notNull(),
  doneAt: integer("done_at", { mode: "timestamp_ms" }),
  deleted: integer("deleted").notNull().default(0),
});

/**
 * An incoming mail server (Odoo's `fetchmail.server`): a mailbox mailgate
 * fetches over IMAP or POP3, each message handed to the inbound pipeline as
 * delivered to `deliverTo`. Credentials (a password, or OAuth client and
 * refresh token) are sealed in `secrets`, never returned.
 */
export const incomingServers = sqliteTable("incoming_servers", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  protocol: text("protocol").$type<"imap" | "pop3">().notNull(),
  host: text("host").notNull(),
  port: integer("port").notNull(),
  security: text("security").$type<"tls" | "starttls" | "none">().notNull(),
  username: text("username").notNull(),
  /** IMAP: the folder fetched. */
  folder: text("folder").notNull().default("INBOX"),
  /** The envelope recipient fetched mail counts as delivered to. */
  deliverTo: text("deliver_to").notNull(),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
  /** AES-GCM sealed JSON: `{ password }` or `{ oauth: { provider, client_id, client_secret, refresh_token } }`. */
  secrets: text("secrets").notNull(),
  /** IMAP: the folder's UIDVALIDITY when its UIDs were last recorded; a change means the UIDs in incoming_fetched are void. */
  uidValidity: integer("uid_validity"),
  /** One fetch at a time: a run holds the server until this time (a run that died lets go when it passes). */
  leaseUntil: integer("lease_until", { mode: "timestamp_ms" }),
  /** A fetch is asked for (the endpoint, the cron) and not yet finished. */
  fetchRequestedAt: integer("fetch_requested_at", { mode: "timestamp_ms" }),
  lastFetchAt: integer("last_fetch_at", { mode: "timestamp_ms" }),
  /** The last run's counts: `{ fetched, accepted, refused, dropped, skipped, remaining }`. */
  lastCounts: text("last_counts", { mode: "json" }).$type<Record<string, number>>(),
  fetchedTotal: integer("fetched_total").notNull().default(0),
  lastError: text("last_error"),
  lastErrorAt: integer("last_error_at", { mode: "timestamp_ms" }),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/**
 * What was taken from a mailbox, by its IMAP UID (with the folder's
 * UIDVALIDITY) or POP3 UIDL: written once the message's record is committed
 * and before it is marked \Seen or deleted, so a fetch cut off between the
 * two skips it next time instead of routing it again.
 */
export const incomingFetched = sqliteTable(
  "incoming_fetched",
  {
    serverId: text("server_id")
      .notNull()
      .references(() => incomingServers.id, { onDelete: "cascade" }),
    /** `<uidvalidity>:<uid>` for IMAP, the UIDL for POP3. */
    uid: text("uid").notNull(),
    /** The message's record (messages.id). */
    messageId: text("message_id").notNull(),
    /** Recorded as refused and left in the mailbox unread (too large): never marked, never fetched again. */
    left: integer("left", { mode: "boolean" }).notNull().default(false),
    fetchedAt: integer("fetched_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.serverId, t.uid] })],
);

/**
 * OAuth access tokens, sealed, until they expire: one per owner
 * (`relay:<id>`, `incoming:<id>`), so every isolate reuses a token instead
 * of asking the provider again.
 */
export const oauthTokens = sqliteTable("oauth_tokens", {
  owner: text("owner").primaryKey(),
  sealed: text("sealed").notNull(),
  expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
});

/**
 * Console sign-ins (src/console/session.ts): the row's id is the SHA-256 of
 * the random secret in the browser's cookie, so the table alone cannot be
 * replayed as a cookie. Signing out deletes the row; expired rows are swept.
 */
export const consoleSessions = sqliteTable("console_sessions", {
  id: text("id").primaryKey(),
  expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
  createdAt: createdAt(),
});

/**
 * Failed console sign-ins by client address (src/console/throttle.ts): one
 * row per address (CF-Connecting-IP; an IPv6 address by its /64), the start
 * of its 15-minute window and the attempts counted in it. The token tried is
 * never stored. Rows whose window is over are swept with expired sessions.
 */
export const consoleSignInFailures = sqliteTable("console_sign_in_failures", {
  client: text("client").primaryKey(),
  windowStart: integer("window_start", { mode: "timestamp_ms" }).notNull(),
  count: integer("count").notNull(),
});
