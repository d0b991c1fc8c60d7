/**
 * The decision recorded for every message, as zod schemas: the one source
 * of its type (inferred below), of the check made when a row is read back,
 * and of the API's `Decision` schema in the OpenAPI document. A change to a
 * decision shows in the contract. Inbound decisions come from `decide()`
 * (src/inbound/route.ts) and the bounce reader; outbound ones from drafting
 * (src/outbound/draft.ts).
 */
import { z } from "zod";
import { ALIAS_CONTACT_POLICIES } from "./model";

export const RouteSchema = z.discriminatedUnion("kind", [
  /** New mail to an alias: opens a thread, or joins the alias's pinned thread. */
  z.object({ kind: z.literal("alias"), route_key: z.string(), alias_id: z.string(), thread_id: z.string().nullable() }),
  /** A reply: joins the thread it answers. `alias_id` is the thread's alias when it was addressed. */
  z.object({ kind: z.literal("thread"), route_key: z.string(), thread_id: z.string(), alias_id: z.string().nullable() }),
]);
export type Route = z.infer<typeof RouteSchema>;

const NoRoute = z.strictObject({ reason: z.literal("no_route"), recipient: z.string() });
const CatchallDirect = z.strictObject({ reason: z.literal("catchall_direct"), recipient: z.string(), company: z.string(), contact_email: z.string().nullable() });
const ContactPolicy = z.strictObject({
  reason: z.literal("contact_policy"),
  alias_id: z.string(),
  address: z.string(),
  policy: z.enum(ALIAS_CONTACT_POLICIES),
  custom_text: z.string().nullable(),
  company: z.string(),
  contact_email: z.string().nullable(),
});
const AliasInvalid = z.strictObject({
  reason: z.literal("alias_invalid"),
  alias_id: z.string(),
  address: z.string(),
  company: z.string(),
  error: z.enum(["config_follower_no_record", "config_follower_no_partners"]),
});
const AliasDisabled = z.strictObject({ reason: z.literal("alias_disabled"), alias_id: z.string(), address: z.string() });
const SenderLoop = z.strictObject({ reason: z.literal("sender_loop"), recipient: z.string(), route_key: z.string(), count: z.number().int(), minutes: z.number().int() });
const HopLimit = z.strictObject({ reason: z.literal("hop_limit"), received: z.number().int() });
/** A message fetched from a mailbox above Email Routing's 25 MiB: recorded from its header, left in the mailbox. */
const TooLarge = z.strictObject({ reason: z.literal("too_large"), size: z.number().int(), limit: z.number().int() });

/** Why a route, or the whole message, was refused. Each maps to one SMTP text in `refusalText`. */
export const RefusalSchema = z.discriminatedUnion("reason", [NoRoute, CatchallDirect, ContactPolicy, AliasInvalid, AliasDisabled, SenderLoop, HopLimit, TooLarge]);
export type Refusal = z.infer<typeof RefusalSchema>;

/**
 * A refusal of the whole message. `recorded_only`: the message was fetched
 * from a mailbox (src/incoming), so there was no SMTP session to refuse it
 * in; the refusal is recorded, and never mailed back.
 */
const refused = <S extends z.ZodRawShape>(refusal: z.ZodObject<S>) => refusal.extend({ outcome: z.literal("refused"), recorded_only: z.literal(true).optional() });

export const BOUNCE_SIGNALS = ["bounce_address", "verp", "mailer_daemon", "report"] as const;
export type BounceSignal = (typeof BOUNCE_SIGNALS)[number];

/** What a bounce said and did (src/inbound/bounce.ts), shown as `decision.bounce`. */
export const BounceSummarySchema = z.strictObject({
  /** null: not read yet, or none of these (a human writing to the bounce address). */
  kind: z.enum(["bounce", "delayed", "delivered", "feedback", "auto_reply"]).nullable(),
  /** The first recipient the report names, with its status and diagnostic. */
  recipient: z.string().nullable(),
  status: z.string().nullable(),
  diagnostic: z.string().nullable(),
  /** The Message-ID of the mail it is about: ours when found, else the first one the report names. */
  original_message_id: z.string().nullable(),
  /** Our outbound message it is about, when found. */
  original_id: z.string().nullable(),
  /** Whether a VERP token was present, and whether its signature verified (a forged one changes nothing). */
  verp: z.enum(["valid", "invalid"]).nullable(),
  recipients: z.array(
    z.strictObject({
      recipient: z.string(),
      action: z.string().nullable(),
      status: z.string().nullable(),
      diagnostic: z.string().nullable(),
      remote_mta: z.string().nullable(),
      hard: z.boolean(),
    }),
  ),
  feedback_type: z.string().nullable(),
  /** What changed: recipients marked bounced, bounces counted, contacts suppressed (and why). */
  effects: z.strictObject({
    bounced: z.array(z.string()),
    counted: z.array(z.string()),
    suppressed: z.array(z.strictObject({ email: z.string(), reason: z.string() })),
    delayed: z.array(z.string()),
  }),
});
export type BounceSummary = z.infer<typeof BounceSummarySchema>;

/** What `decide()` answers, completed by the bounce reader and the loop guard. */
export const DecisionSchema = z.discriminatedUnion("reason", [
  z.strictObject({
    outcome: z.literal("accepted"),
    reason: z.literal("routed"),
    routes: z.array(RouteSchema),
    refused: z.array(RefusalSchema),
    skipped: z.array(z.strictObject({ route_key: z.string(), why: z.enum(["duplicate", "automatic"]) })),
    /** Earlier messages with this Message-ID from other senders: a collision (or a forgery sent first), which blocks nothing. */
    message_id_collision: z.array(z.string()).optional(),
  }),
  z.strictObject({ outcome: z.literal("accepted"), reason: z.literal("bounce"), signal: z.enum(BOUNCE_SIGNALS), bounce: BounceSummarySchema }),
  /**
   * Mail to `unsubscribe+<token>@` (the mailto form of List-Unsubscribe,
   * src/unsubscribe.ts) whose token verified: `recipient` of our message
   * `original_id` unsubscribed from that message's stream. A token that
   * does not verify is refused as `no_route`, like any unknown address.
   */
  z.strictObject({ outcome: z.literal("accepted"), reason: z.literal("unsubscribe"), original_id: z.string(), recipient: z.string() }),
  refused(NoRoute),
  refused(CatchallDirect),
  refused(ContactPolicy),
  refused(AliasInvalid),
  refused(AliasDisabled),
  refused(SenderLoop),
  refused(HopLimit),
  refused(TooLarge),
  /**
   * Seen before. `same_delivery`: this very delivery (same Message-ID, same
   * recipient) was accepted earlier, so this is the sender retrying after a
   * temporary failure of ours. Either way, deliveries the earlier attempt
   * left undone are completed.
   */
  z.strictObject({ outcome: z.literal("dropped"), reason: z.literal("duplicate"), duplicate_of: z.string().nullable(), same_delivery: z.boolean() }),
  z.strictObject({ outcome: z.literal("dropped"), reason: z.literal("loop_reply") }),
  z.strictObject({ outcome: z.literal("dropped"), reason: z.literal("automatic"), marker: z.string() }),
]);
export type Decision = z.infer<typeof DecisionSchema>;

/** How an outbound message was planned: the relay and the selection step, the From rewrite, the author, the bounce address. */
const outboundFields = {
  outcome: z.literal("accepted"),
  relay_id: z.string(),
  selection: z.enum(["address", "domain", "notifications_address", "notifications_domain", "no_filter", "first"]),
  from_rewrite: z.enum(["none", "notifications", "fixed_sender"]),
  author: z.strictObject({ name: z.string(), address: z.string() }),
  bounce_address: z.string().nullable(),
};

export const OutboundDecisionSchema = z.discriminatedUnion("reason", [
  /** `POST /v1/messages`. */
  z.strictObject({ ...outboundFields, reason: z.literal("send") }),
  /** A copy of an inbound message for a thread's follower. */
  z.strictObject({ ...outboundFields, reason: z.literal("notification"), notification_of: z.string(), delivery_id: z.string() }),
]);
export type OutboundDecision = z.infer<typeof OutboundDecisionSchema>;

/** What an erased message keeps of its decision: the outcome alone (src/erasure.ts). */
export const ErasedDecisionSchema = z.strictObject({ outcome: z.enum(["accepted", "refused", "dropped"]), reason: z.literal("erased") });

/** Every decision a message row holds, told apart by `reason`. */
export const StoredDecisionSchema = z.discriminatedUnion("reason", [...DecisionSchema.options, ...OutboundDecisionSchema.options, ErasedDecisionSchema]);
export type StoredDecision = z.infer<typeof StoredDecisionSchema>;
