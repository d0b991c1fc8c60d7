/**
 * The routing trace a message page shows: a recorded decision
 * (src/decision.ts) told as readable steps: which rule matched, which alias,
 * why a route was refused or skipped, what a bounce said and did, and the
 * SMTP answer mailgate gave. Pure (no binding, no database): the unit tests
 * run it over every reason.
 */
import type { BounceSignal, BounceSummary, Refusal, Route, StoredDecision } from "../decision";
import { refusalText } from "../inbound/route";

/** What a step is: a match, a refusal, a route skipped, a note, or the answer given to the sending server. */
export type StepKind = "match" | "refused" | "skipped" | "note" | "answer";

/** One step of the trace. */
export interface TraceStep {
  kind: StepKind;
  text: string;
}

/** Names to show instead of ids, when the page knows them (an alias's address, a relay's name). */
export interface TraceNames {
  alias?(id: string): string | undefined;
  /** The thread an alias is pinned to, if any: tells "its pinned thread" from a thread the message opened. */
  pinned?(aliasId: string): string | null | undefined;
  relay?(id: string): string | undefined;
}

const SIGNALS: Record<BounceSignal, string> = {
  bounce_address: "it was sent to a domain's bounce address",
  verp: "it was sent to a VERP bounce address (bounce+token@)",
  mailer_daemon: "it came from MAILER-DAEMON (or postmaster)",
  report: "it is a delivery or feedback report (multipart/report)",
};

const SELECTIONS: Record<string, string> = {
  address: "its From filter names the From address",
  domain: "its From filter names the From address's domain",
  notifications_address: "its From filter names the domain's notifications address",
  notifications_domain: "its From filter names the notifications address's domain",
  no_filter: "it has no From filter, so it may send as anyone",
  first: "no relay's From filter matched, so the first relay by sequence was taken",
};

const ACCEPTED = "SMTP answer: accepted (250); the sending server's job is done.";

const step = (kind: StepKind, text: string): TraceStep => ({ kind, text });

function aliasName(id: string | null, names: TraceNames): string {
  if (!id) return "no alias";
  const name = names.alias?.(id);
  return name ? `${name} (${id})` : id;
}

function routeStep(route: Route, names: TraceNames): TraceStep {
  if (route.kind === "alias") {
    // The recorded decision names the thread the message went into; route-test's (nothing recorded) has none yet.
    const thread = !route.thread_id
      ? "opens a new thread"
      : names.pinned?.(route.alias_id) === route.thread_id
        ? `joins its pinned thread ${route.thread_id}`
        : `into thread ${route.thread_id}`;
    return step("match", `Matched the alias ${aliasName(route.alias_id, names)}: ${thread}.`);
  }
  const alias = route.alias_id ? `, of the alias ${aliasName(route.alias_id, names)}` : "";
  return step("match", `A reply (In-Reply-To or References names a message of ours): joins thread ${route.thread_id}${alias}.`);
}

/** Why a refusal happened, in words, before the text the sender got. */
function refusalCause(refusal: Refusal, names: TraceNames): string {
  switch (refusal.reason) {
    case "no_route":
      return `Nothing matched ${refusal.recipient}: no alias, no thread it replies to, no bounce address.`;
    case "catchall_direct":
      return `Written directly to the catchall ${refusal.recipient}, which only takes replies to mail of ${refusal.company}.`;
    case "contact_policy":
      return `The alias ${aliasName(refusal.alias_id, names)} takes mail from ${refusal.policy === "known" ? "known contacts" : "its thread's followers"} only, and the sender is not one.`;
    case "alias_invalid":
      return refusal.error === "config_follower_no_record"
        ? `The alias ${aliasName(refusal.alias_id, names)} takes mail from followers only, but has no thread to take followers from.`
        : `The alias ${aliasName(refusal.alias_id, names)} takes mail from followers only, but its thread has none.`;
    case "alias_disabled":
      return `The alias ${aliasName(refusal.alias_id, names)} is disabled.`;
    case "sender_loop":
      return `The sender put ${refusal.count} messages into ${refusal.route_key} within ${refusal.minutes} minutes: the loop guard's threshold.`;
    case "hop_limit":
      return `The message carries ${refusal.received} Received headers: it has been going round in circles.`;
    case "too_large":
      return `The message is ${refusal.size} bytes; ${refusal.limit} is the most accepted.`;
  }
}

function bounceSteps(bounce: BounceSummary): TraceStep[] {
  const steps: TraceStep[] = [];
  const kind = bounce.kind ?? "unreadable report (or a person writing to the bounce address)";
  steps.push(step("note", `Read as: ${kind}.`));
  if (bounce.verp === "valid") steps.push(step("note", "Its VERP token verified: it names the message and recipient."));
  if (bounce.verp === "invalid") steps.push(step("note", "Its VERP token did not verify (forged or damaged): it changed nothing by itself."));
  if (bounce.original_id) steps.push(step("match", `About our message ${bounce.original_id}${bounce.original_message_id ? ` (${bounce.original_message_id})` : ""}.`));
  else if (bounce.original_message_id) steps.push(step("note", `About ${bounce.original_message_id}, which is not a message of ours.`));
  else steps.push(step("note", "It names no message of ours."));
  for (const r of bounce.recipients) {
    const detail = [r.action, r.status, r.diagnostic].filter(Boolean).join(", ");
    steps.push(step("note", `${r.recipient}: ${detail || "no details"}${r.hard ? " (hard)" : ""}${r.remote_mta ? `, from ${r.remote_mta}` : ""}.`));
  }
  if (bounce.feedback_type) steps.push(step("note", `Feedback report: ${bounce.feedback_type}.`));
  const { effects } = bounce;
  if (effects.bounced.length) steps.push(step("refused", `Marked bounced: ${effects.bounced.join(", ")}.`));
  if (effects.counted.length) steps.push(step("note", `Bounce counted for: ${effects.counted.join(", ")}.`));
  for (const s of effects.suppressed) steps.push(step("refused", `Suppressed ${s.email} (${s.reason.replaceAll("_", " ")}).`));
  if (effects.delayed.length) steps.push(step("note", `Delayed, still trying: ${effects.delayed.join(", ")}.`));
  if (!effects.bounced.length && !effects.counted.length && !effects.suppressed.length && !effects.delayed.length) steps.push(step("note", "It changed nothing."));
  return steps;
}

function outboundSteps(decision: Extract<StoredDecision, { relay_id: string }>, names: TraceNames): TraceStep[] {
  const steps: TraceStep[] = [];
  if (decision.reason === "send") steps.push(step("note", "Sent through the API (POST /v1/messages)."));
  else steps.push(step("note", `A notification to a follower of message ${decision.notification_of} (delivery ${decision.delivery_id}).`));
  const relay = names.relay?.(decision.relay_id);
  steps.push(step("match", `Relay ${relay ? `${relay} (${decision.relay_id})` : decision.relay_id}: ${SELECTIONS[decision.selection] ?? decision.selection}.`));
  const author = decision.author.name ? `${decision.author.name} <${decision.author.address}>` : decision.author.address;
  if (decision.from_rewrite === "none") steps.push(step("note", `From kept: ${author}.`));
  else if (decision.from_rewrite === "notifications") steps.push(step("note", `From rewritten to the domain's notifications address: the relay may not send as ${author}.`));
  else steps.push(step("note", `From rewritten to the relay's fixed sender: it may not send as ${author}.`));
  steps.push(
    step(
      "note",
      decision.bounce_address
        ? `Bounces come back to ${decision.bounce_address}.`
        : "No bounce address of ours: the relay sets its own Return-Path (its events tell the delivery status).",
    ),
  );
  return steps;
}

/** The steps of a decision, in the order they were taken. `names` puts names on ids where the page knows them. */
export function traceSteps(decision: StoredDecision, names: TraceNames = {}): TraceStep[] {
  switch (decision.reason) {
    case "routed": {
      const steps = decision.routes.map((route) => routeStep(route, names));
      for (const refusal of decision.refused) steps.push(step("note", refusalCause(refusal, names)), step("refused", `Route refused: ${refusalText(refusal)}`));
      for (const skipped of decision.skipped) {
        steps.push(
          step(
            "skipped",
            skipped.why === "duplicate"
              ? `Skipped ${skipped.route_key}: another delivery of this Message-ID already took that route.`
              : `Skipped ${skipped.route_key}: automatic mail (RFC 3834) may not open a thread on an alias that adds its sender as a follower.`,
          ),
        );
      }
      if (decision.message_id_collision?.length) {
        steps.push(step("note", `The same Message-ID came earlier from other senders (${decision.message_id_collision.join(", ")}): a collision, which blocks nothing.`));
      }
      steps.push(step("answer", ACCEPTED));
      return steps;
    }
    case "bounce":
      return [step("match", `A bounce: ${SIGNALS[decision.signal]}.`), ...bounceSteps(decision.bounce), step("answer", ACCEPTED)];
    case "unsubscribe":
      return [
        step("match", "Mail to the unsubscribe address of a List-Unsubscribe header, with a token that verified."),
        step("note", `${decision.recipient} unsubscribed from the stream of our message ${decision.original_id}.`),
        step("answer", ACCEPTED),
      ];
    case "no_route":
    case "catchall_direct":
    case "contact_policy":
    case "alias_invalid":
    case "alias_disabled":
    case "sender_loop":
    case "hop_limit":
    case "too_large": {
      const { outcome: _outcome, recorded_only, ...refusal } = decision;
      const text = refusalText(refusal as Refusal);
      return [
        step("note", refusalCause(refusal as Refusal, names)),
        step("refused", `Refused: ${text}`),
        recorded_only
          ? step("answer", "Fetched from a mailbox, so there was no SMTP session: the refusal is recorded only, and nobody was answered.")
          : step("answer", "SMTP answer: a permanent refusal (5xx) with that text; the sending server writes the bounce, so mailgate sends no backscatter."),
      ];
    }
    case "duplicate":
      return [
        step(
          "skipped",
          decision.same_delivery
            ? `Already received: the sending server retried a delivery accepted earlier${decision.duplicate_of ? ` (${decision.duplicate_of})` : ""}; only what that one left undone was completed.`
            : `A duplicate of ${decision.duplicate_of ?? "a message already received"} (same Message-ID): dropped, after completing what the first left undone.`,
        ),
        step("answer", ACCEPTED),
      ];
    case "loop_reply":
      return [step("skipped", "A reply to one of our own refusals: dropped, so two servers never answer each other in a loop."), step("answer", ACCEPTED)];
    case "automatic":
      return [
        step("skipped", `Automatic mail (${decision.marker}) whose only routes would open a thread on an alias that adds its sender as a follower (RFC 3834): dropped.`),
        step("answer", ACCEPTED),
      ];
    case "send":
    case "notification":
      return outboundSteps(decision, names);
    case "erased":
      return [step("note", `Erased: its content, addresses and raw copy are gone; only the outcome (${decision.outcome}) is kept.`)];
  }
}
