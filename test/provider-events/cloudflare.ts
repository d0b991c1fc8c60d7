/**
 * Cloudflare Email Sending event bodies, as a Queues event subscription
 * delivers them (one per queue message), for tests: the documented examples
 * of https://developers.cloudflare.com/email-service/platform/event-subscriptions/
 * (cloudflare-docs src/content/partials/queues/event-subscriptions/email-sending-events.mdx),
 * field for field, with the fields a test needs to point elsewhere made
 * overridable. No Node or workerd imports: usable from workerd tests
 * (createMessageBatch(queue, [{ id, timestamp, attempts, body }])) and from
 * plain-Node unit tests alike. The reader is src/events/providers/cloudflare.ts.
 */

/** The six event names a subscription lists (`--events`); the body's `type` is `cf.email.sending.` + the name. */
export type CloudflareEventName = "message.delivered" | "message.deferred" | "message.bounced" | "message.failed" | "message.rejected" | "message.complained";

/** What a test may change; everything else is the documented example's. */
export interface CloudflareEventOverrides {
  /** `payload.messageId`: in a workerd test, the id the relay stored from `env.EMAIL.send()`. */
  messageId?: string;
  recipient?: string;
  sender?: string;
  /** `payload.eventId`; `null` leaves it out (the reader then makes a digest). */
  eventId?: string | null;
  /** `metadata.eventTimestamp` (ISO 8601); `null` leaves it out (the reader then takes its `now`). */
  eventTimestamp?: string | null;
  /** `source.domain`: the sending domain the subscription is for. */
  domain?: string;
  zoneId?: string;
  /** Fields set over the payload's, whole (a `bounce` given replaces the example's); `undefined` removes one. */
  payload?: Record<string, unknown>;
  /** Replaces the whole `type` (to build an unknown or foreign event). */
  type?: string;
}

/** One event body: the JSON object a queue message of the subscription carries. */
export interface CloudflareEventBody {
  type: string;
  source: { type: string; zoneId: string; domain: string };
  payload: Record<string, unknown>;
  metadata: { accountId: string; eventSubscriptionId: string; eventSchemaVersion: number; eventTimestamp?: string };
}

/** The documented examples' common values. */
export const CLOUDFLARE_EVENT_DEFAULTS = {
  zoneId: "023e105f4ecef8ad9ca31a8372d0c353",
  domain: "example.com",
  sender: "noreply@example.com",
  recipient: "user@example.net",
  accountId: "f9f79265f388666de8122cfb508d7776",
  eventSubscriptionId: "1830c4bb612e43c3af7f4cada31fbf3f",
  eventTimestamp: "2026-06-01T02:48:57.132Z",
} as const;

/** Each event's own part of the documented example (ids, delivery, bounce/failure/rejection/complaint). */
const EXAMPLES: Record<CloudflareEventName, Record<string, unknown>> = {
  "message.delivered": {
    eventId: "0190d0c4-7e9a-7b3c-9f12-1a2b3c4d5e6f",
    messageId: "0101018f7d0c4d9a-msg-deadbeef",
    subject: "Welcome",
    terminal: true,
    delivery: {
      status: "delivered",
      provider: "gmail",
      deliveryTimeMs: 1234,
      smtpStatusCode: "250",
      smtpEnhancedStatusCode: "2.0.0",
      smtpResponse: "250 2.0.0 OK 1714820445 a1b2c3 - gsmtp",
    },
  },
  "message.deferred": {
    eventId: "0190d0c4-7e9b-7714-9004-11f0b6d9a341",
    messageId: "0101018f7d0c4d9a-msg-deferred",
    subject: "Your receipt",
    terminal: false,
    delivery: {
      status: "deferred",
      provider: "external_smtp",
      deliveryTimeMs: 2143,
      smtpStatusCode: "451",
      smtpEnhancedStatusCode: "4.2.0",
      smtpResponse: "451 4.2.0 Temporary mailbox error",
    },
    bounce: { type: "soft", classification: "temporary_failure", reason: "451 4.2.0 Temporary mailbox error" },
  },
  "message.bounced": {
    eventId: "0190d0c4-7ea1-7af2-8b88-c1d2e3f4a5b6",
    messageId: "0101018f7d0c4d9a-msg-bounced",
    subject: "Your receipt",
    terminal: true,
    delivery: {
      status: "bounced",
      provider: "external_smtp",
      deliveryTimeMs: 2143,
      smtpStatusCode: "550",
      smtpEnhancedStatusCode: "5.1.1",
      smtpResponse: "550 5.1.1 User unknown",
    },
    bounce: { type: "hard", classification: "permanent_failure", reason: "550 5.1.1 User unknown" },
  },
  "message.failed": {
    eventId: "0190d0c4-81c1-7bc6-9344-829cd9001a12",
    messageId: "0101018f7d0c4d9a-msg-failed",
    subject: "Welcome",
    terminal: true,
    delivery: { status: "failed" },
    failure: { reason: "delivery_failed" },
  },
  "message.rejected": {
    eventId: "0190d0c4-830a-77e5-8fa0-8d10f4e8dc8b",
    messageId: "0101018f7d0c4d9a-msg-rejected",
    subject: "Welcome",
    terminal: true,
    delivery: { status: "rejected" },
    rejection: { reason: "suppressed", party: "recipient", detail: "Recipient is suppressed" },
  },
  "message.complained": {
    eventId: "0190d0c4-9f01-7c44-b2a1-aabbccddeeff",
    messageId: "0101018f7d0c4d9a-msg-complained",
    terminal: true,
    delivery: { status: "complained" },
    complaint: { type: "abuse" },
  },
};

/** Any of the six events, as documented, with the overrides applied. */
export function cloudflareEvent(name: CloudflareEventName, overrides: CloudflareEventOverrides = {}): CloudflareEventBody {
  const { eventId, messageId, ...example } = EXAMPLES[name];
  const payload: Record<string, unknown> = {
    eventId: overrides.eventId === null ? undefined : (overrides.eventId ?? eventId),
    messageId: overrides.messageId ?? messageId,
    sender: overrides.sender ?? CLOUDFLARE_EVENT_DEFAULTS.sender,
    recipient: overrides.recipient ?? CLOUDFLARE_EVENT_DEFAULTS.recipient,
    ...structuredClone(example),
    ...overrides.payload,
  };
  for (const key of Object.keys(payload)) if (payload[key] === undefined) delete payload[key];
  const eventTimestamp = overrides.eventTimestamp === undefined ? CLOUDFLARE_EVENT_DEFAULTS.eventTimestamp : overrides.eventTimestamp;
  return {
    type: overrides.type ?? `cf.email.sending.${name}`,
    source: {
      type: "email.sending",
      zoneId: overrides.zoneId ?? CLOUDFLARE_EVENT_DEFAULTS.zoneId,
      domain: overrides.domain ?? CLOUDFLARE_EVENT_DEFAULTS.domain,
    },
    payload,
    metadata: {
      accountId: CLOUDFLARE_EVENT_DEFAULTS.accountId,
      eventSubscriptionId: CLOUDFLARE_EVENT_DEFAULTS.eventSubscriptionId,
      eventSchemaVersion: 1,
      ...(eventTimestamp === null ? {} : { eventTimestamp }),
    },
  };
}

/** `message.delivered`: the recipient's server accepted the message (250 2.0.0). */
export function cloudflareDelivered(overrides: CloudflareEventOverrides = {}): CloudflareEventBody {
  return cloudflareEvent("message.delivered", overrides);
}

/** `message.deferred`: a temporary failure (451 4.2.0, a soft bounce), retries pending. */
export function cloudflareDeferred(overrides: CloudflareEventOverrides = {}): CloudflareEventBody {
  return cloudflareEvent("message.deferred", overrides);
}

/** `message.bounced`, hard: a permanent refusal (550 5.1.1 User unknown). */
export function cloudflareBouncedHard(overrides: CloudflareEventOverrides = {}): CloudflareEventBody {
  return cloudflareEvent("message.bounced", overrides);
}

/** `message.bounced`, soft: temporary failures until retries ran out (452 4.2.2, mailbox full). */
export function cloudflareBouncedSoft(overrides: CloudflareEventOverrides = {}): CloudflareEventBody {
  const reason = "452 4.2.2 Mailbox full";
  return cloudflareEvent("message.bounced", {
    ...overrides,
    payload: {
      delivery: { status: "bounced", provider: "external_smtp", deliveryTimeMs: 2143, smtpStatusCode: "452", smtpEnhancedStatusCode: "4.2.2", smtpResponse: reason },
      bounce: { type: "soft", classification: "temporary_failure", reason },
      ...overrides.payload,
    },
  });
}

/** `message.failed`: an internal or non-SMTP delivery error. */
export function cloudflareFailed(overrides: CloudflareEventOverrides = {}): CloudflareEventBody {
  return cloudflareEvent("message.failed", overrides);
}

/** `message.rejected`: refused before delivery by policy; the documented example's reason is `suppressed`. */
export function cloudflareRejected(overrides: CloudflareEventOverrides = {}): CloudflareEventBody {
  return cloudflareEvent("message.rejected", overrides);
}

/** `message.complained`: the recipient marked the delivered message as spam (feedback loop). */
export function cloudflareComplained(overrides: CloudflareEventOverrides = {}): CloudflareEventBody {
  return cloudflareEvent("message.complained", overrides);
}
