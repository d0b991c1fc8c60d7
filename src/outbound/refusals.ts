/**
 * Why an outbound message is not accepted: one union for the send API and
 * follower notifications, so each failure is named and worded once. The
 * HTTP edge (src/api/send.ts) maps each reason to a status; notifications
 * (src/deliveries/notify.ts) retry what may pass later and fail the rest.
 */
export type SendRefusal =
  | { reason: "forbidden_domain"; domain: string; allowed: string[] }
  | { reason: "suppressed"; recipients: string[] }
  | { reason: "unknown_thread"; threadId: string }
  | { reason: "idempotency_conflict"; key: string }
  | DraftRefusal;

/** What drafting itself can refuse (src/outbound/draft.ts). */
export type DraftRefusal = { reason: "no_relay" } | { reason: "too_large"; size: number; limit: number; relay: string };

/** The one wording of each refusal: the send API's error message and a failed notification's error both use it. */
export function sendRefusalText(refusal: SendRefusal): string {
  switch (refusal.reason) {
    case "forbidden_domain":
      return `this API key may not send from ${refusal.domain} (allowed: ${refusal.allowed.join(", ")})`;
    case "suppressed":
      return `suppressed recipients (they bounced or complained; remove the suppression first): ${refusal.recipients.join(", ")}`;
    case "unknown_thread":
      return `thread ${refusal.threadId} does not exist`;
    case "idempotency_conflict":
      return `Idempotency-Key "${refusal.key}" was used within 24 hours for a different request`;
    case "no_relay":
      return "no relay is enabled: create one with POST /v1/relays";
    case "too_large":
      return `the message is ${refusal.size} bytes once composed; relay "${refusal.relay}" takes at most ${refusal.limit}`;
  }
}

/** Whether the same message may pass later without being changed: an operator can enable a relay; the rest never pass. */
export function mayPassLater(refusal: SendRefusal): boolean {
  switch (refusal.reason) {
    case "no_relay":
      return true;
    case "forbidden_domain":
    case "suppressed":
    case "unknown_thread":
    case "idempotency_conflict":
    case "too_large":
      return false;
  }
}
