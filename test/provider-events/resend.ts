/**
 * Resend webhook requests as Resend sends them, for the Node table tests
 * and the Worker tests alike (WebCrypto and web globals only, no node:
 * imports). The events follow Resend's documented examples
 * (https://resend.com/docs/dashboard/webhooks/event-types and
 * https://resend.com/docs/webhooks/emails/{bounced,failed,suppressed,…});
 * the signature is Svix's (https://docs.svix.com/receiving/verifying-payloads/how-manual):
 * `v1,` + base64 HMAC-SHA256 of `${svix-id}.${svix-timestamp}.${body}`,
 * keyed with the base64 after the secret's `whsec_`. The reader is
 * src/events/providers/resend.ts.
 */
import type { HookRequest } from "../../src/events/types";

type Json = Record<string, unknown>;

/** Svix's documented example secret (the one its example signature is made with). */
export const RESEND_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/** The `id` the send API answered, as the relay stored it; the documented examples' value. */
export const RESEND_EMAIL_ID = "56761188-7520-42d8-8898-ff6fc54ce618";
export const RESEND_RECIPIENT = "delivered@resend.dev";
export const RESEND_CREATED_AT = "2024-11-22T23:41:12.126Z";
export const RESEND_SVIX_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";

/** Svix's worked example (Resend's verify page and docs.svix.com): the signature that secret gives this id, time and body. */
export const SVIX_EXAMPLE = {
  secret: RESEND_SECRET,
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: "1614265330",
  body: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
} as const;

export interface ResendEventOverrides {
  emailId?: string;
  to?: unknown;
  createdAt?: string | null;
  /** Fields set over `data`'s (an `undefined` removes one). */
  data?: Json;
}

/** Any `email.*` event, as the documented examples have it. */
export function resendEvent(type: string, overrides: ResendEventOverrides = {}): Json {
  const data: Json = {
    broadcast_id: "8b146471-e88e-4322-86af-016cd36fd216",
    created_at: "2024-11-22T23:41:11.894719+00:00",
    email_id: overrides.emailId ?? RESEND_EMAIL_ID,
    from: "Acme <onboarding@resend.dev>",
    to: overrides.to ?? [RESEND_RECIPIENT],
    subject: "Sending this example",
    template_id: "43f68331-0622-4e15-8202-246a0388854b",
    tags: { category: "confirm_email" },
    ...overrides.data,
  };
  for (const key of Object.keys(data)) if (data[key] === undefined) delete data[key];
  const createdAt = overrides.createdAt === undefined ? RESEND_CREATED_AT : overrides.createdAt;
  return { type, ...(createdAt === null ? {} : { created_at: createdAt }), data };
}

/** email.delivered. */
export function resendDelivered(overrides: ResendEventOverrides = {}): Json {
  return resendEvent("email.delivered", overrides);
}

/** email.delivery_delayed. */
export function resendDeliveryDelayed(overrides: ResendEventOverrides = {}): Json {
  return resendEvent("email.delivery_delayed", overrides);
}

/**
 * A hard bounce: Permanent/General, with the server's answer in
 * `diagnosticCode` (the bounced page's example of that field) and the
 * subtype's description from https://resend.com/docs/dashboard/emails/email-bounces.
 */
export const RESEND_HARD_BOUNCE = {
  diagnosticCode: ["smtp; 550 5.5.0 Requested action not taken: mailbox unavailable"],
  message: "The recipient's email provider sent a hard bounce message.",
  subType: "General",
  type: "Permanent",
};

/** The documented example's bounce: Permanent/Suppressed (Resend's suppression list). */
export const RESEND_SUPPRESSED_BOUNCE = {
  message: "The recipient's email address is on the suppression list because it has a recent history of producing hard bounces.",
  subType: "Suppressed",
  type: "Permanent",
};

/** email.bounced with this `bounce` (a hard bounce unless given). */
export function resendBounced(bounce: Json = RESEND_HARD_BOUNCE, overrides: ResendEventOverrides = {}): Json {
  return resendEvent("email.bounced", { ...overrides, data: { bounce, ...overrides.data } });
}

/** email.complained. */
export function resendComplained(overrides: ResendEventOverrides = {}): Json {
  return resendEvent("email.complained", overrides);
}

/** email.failed (documented example: `failed.reason` reached_daily_quota). */
export function resendFailed(reason = "reached_daily_quota", overrides: ResendEventOverrides = {}): Json {
  return resendEvent("email.failed", { ...overrides, data: { failed: { reason }, ...overrides.data } });
}

/** email.suppressed (documented example: on the account-level suppression list). */
export function resendSuppressed(overrides: ResendEventOverrides = {}): Json {
  return resendEvent("email.suppressed", {
    ...overrides,
    data: {
      suppressed: {
        message: "Resend has suppressed sending to this address because it is on the account-level suppression list. This does not count toward your bounce rate metric",
        type: "OnAccountSuppressionList",
      },
      ...overrides.data,
    },
  });
}

/** email.sent, which carries nothing to apply. */
export function resendSent(overrides: ResendEventOverrides = {}): Json {
  return resendEvent("email.sent", overrides);
}

/** `v1,<base64 HMAC-SHA256>` of `${id}.${timestamp}.${body}` with a `whsec_` secret. */
export async function svixSignature(secret: string, id: string, timestamp: string, body: string): Promise<string> {
  const keyBytes = Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${timestamp}.${body}`)));
  return `v1,${btoa(Array.from(mac, (byte) => String.fromCharCode(byte)).join(""))}`;
}

export interface ResendSigning {
  /** The secret to sign with (RESEND_SECRET). */
  secret?: string;
  /** svix-id (RESEND_SVIX_ID). */
  id?: string;
  /** When it was signed, in ms (now). */
  at?: number;
  /** Replaces the svix-signature header after signing (rotation lists, forged values). */
  signature?: (signed: string) => string;
  relayId?: string;
}

/** A `POST /hooks/relays/{id}` request as Resend (Svix) sends it, with these headers. */
export function resendRequest(body: Json | string, headers: Record<string, string> = {}, relayId = "rly_resend"): HookRequest {
  return {
    method: "POST",
    url: `https://mailgate.test/hooks/relays/${relayId}`,
    headers: new Headers({ "content-type": "application/json", "user-agent": "Svix-Webhooks/1.0", ...headers }),
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

/** A signed request for one event (the body as JSON text, signed as sent). */
export async function signedResendRequest(event: Json | string, signing: ResendSigning = {}): Promise<HookRequest> {
  const body = typeof event === "string" ? event : JSON.stringify(event);
  const id = signing.id ?? RESEND_SVIX_ID;
  const timestamp = String(Math.floor((signing.at ?? Date.now()) / 1000));
  const signed = await svixSignature(signing.secret ?? RESEND_SECRET, id, timestamp, body);
  const signature = signing.signature ? signing.signature(signed) : signed;
  return resendRequest(body, { "svix-id": id, "svix-timestamp": timestamp, "svix-signature": signature }, signing.relayId);
}
