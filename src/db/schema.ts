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

export type Destination =
  | { type: "store" }
  | { type: "forward"; to: string }
  | { type: "webhook"; url: string };

export const ALIAS_CONTACT_POLICIES = ["everyone", "known", "followers"] as const;
export type AliasContactPolicy = (typeof ALIAS_CONTACT_POLICIES)[number];
/** Odoo's `alias_status`: `invalid` marks a configuration error found while routing. */
export type AliasStatus = "not_tested" | "valid" | "invalid";

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
    status: text("status").$type<AliasStatus>().notNull().default("not_tested"),
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
  suppressed: integer("suppressed", { mode: "boolean" }).notNull().default(false),
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
  updatedAt: updatedAt(),
});

/** An address with its decoded display name (empty when there is none). */
export type Mailbox = { name: string; address: string };

export type MessageDirection = "in" | "out";
export type InboundStatus = "accepted" | "refused" | "dropped";

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
    decision: text("decision", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index("messages_message_id").on(t.messageId), index("messages_status").on(t.status, t.id)],
);

/**
 * The threads a message belongs to, one row per route taken. `route_key` is
 * `alias:<id>` for mail that opened a thread on an alias, `thread:<id>` for
 * mail that joined an existing thread. The unique index on
 * (`message_key`, `route_key`) makes each route of a Message-ID happen once,
 * even when two deliveries of the same mail race.
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
    routeKey: text("route_key").notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.messageId, t.threadId] }),
    uniqueIndex("message_threads_route").on(t.messageKey, t.routeKey),
    index("message_threads_thread").on(t.threadId, t.messageId),
    index("message_threads_alias").on(t.aliasId, t.messageId),
  ],
);

export type DeliveryType = Destination["type"];
export type DeliveryStatus = "pending" | "delivered" | "failed";

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
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index("deliveries_message").on(t.messageId)],
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
