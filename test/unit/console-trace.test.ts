/**
 * The console's routing trace (src/console/trace.ts): every reason a
 * decision can have reads as steps, a refusal's step is "Refused: " + the
 * very text the sender's server was given, and nothing is left unexplained.
 */
import { describe, expect, it } from "vitest";
import { traceSteps } from "../../src/console/trace";
import { type StoredDecision, StoredDecisionSchema } from "../../src/decision";
import { refusalText } from "../../src/inbound/route";

const bounce = {
  kind: "bounce" as const,
  recipient: "gone@example.org",
  status: "5.1.1",
  diagnostic: "550 5.1.1 no such user",
  original_message_id: "<msg_1@d.example>",
  original_id: "msg_1",
  verp: "valid" as const,
  recipients: [{ recipient: "gone@example.org", action: "failed", status: "5.1.1", diagnostic: "550 5.1.1 no such user", remote_mta: "mx.example.org", hard: true }],
  feedback_type: null,
  effects: { bounced: ["gone@example.org"], counted: ["gone@example.org"], suppressed: [{ email: "gone@example.org", reason: "hard_bounce" }], delayed: [] },
};

const author = { name: "Sales", address: "sales@d.example" };

/** One decision per reason, and what its steps must say (each regex must match some step). */
const TABLE: [StoredDecision, RegExp[]][] = [
  [
    {
      outcome: "accepted",
      reason: "routed",
      routes: [
        { kind: "alias", route_key: "alias:al_1", alias_id: "al_1", thread_id: null },
        { kind: "thread", route_key: "thread:th_2", thread_id: "th_2", alias_id: null },
        { kind: "alias", route_key: "alias:al_6", alias_id: "al_6", thread_id: "th_6" },
        { kind: "alias", route_key: "alias:al_1", alias_id: "al_1", thread_id: "th_7" },
      ],
      refused: [{ reason: "alias_disabled", alias_id: "al_3", address: "old@d.example" }],
      skipped: [
        { route_key: "alias:al_4", why: "duplicate" },
        { route_key: "alias:al_5", why: "automatic" },
      ],
      message_id_collision: ["msg_9"],
    },
    [
      /^Matched the alias sales@d\.example \(al_1\): opens a new thread\.$/,
      /^Matched the alias al_6: joins its pinned thread th_6\.$/,
      /^Matched the alias sales@d\.example \(al_1\): into thread th_7\.$/,
      /^A reply .*joins thread th_2\.$/,
      /^Route refused: The address old@d\.example is disabled/,
      /Skipped alias:al_4: another delivery/,
      /Skipped alias:al_5: automatic mail/,
      /collision/,
      /^SMTP answer: accepted/,
    ],
  ],
  [
    { outcome: "accepted", reason: "bounce", signal: "verp", bounce },
    [
      /^A bounce: .*VERP/,
      /VERP token verified/,
      /About our message msg_1/,
      /gone@example\.org: failed, 5\.1\.1.*\(hard\), from mx\.example\.org/,
      /Suppressed gone@example\.org \(hard bounce\)/,
      /^SMTP answer: accepted/,
    ],
  ],
  [
    { outcome: "accepted", reason: "unsubscribe", original_id: "msg_2", recipient: "r@example.org" },
    [/List-Unsubscribe/, /r@example\.org unsubscribed .*msg_2/, /^SMTP answer: accepted/],
  ],
  [
    { outcome: "refused", reason: "no_route", recipient: "nobody@d.example" },
    [/^Nothing matched nobody@d\.example/, /^Refused: There is no mailbox or alias for nobody@d\.example here\./, /permanent refusal \(5xx\)/],
  ],
  [
    { outcome: "refused", reason: "catchall_direct", recipient: "catchall@d.example", company: "Acme", contact_email: "info@d.example" },
    [/catchall/, /^Refused: The email sent to catchall@d\.example cannot be processed\..*info@d\.example/],
  ],
  [
    { outcome: "refused", reason: "contact_policy", alias_id: "al_1", address: "sales@d.example", policy: "known", custom_text: null, company: "Acme", contact_email: null },
    [/known contacts only/, /^Refused: The message could not be accepted by the address sales@d\.example\. Only addresses linked to registered contacts/],
  ],
  [
    { outcome: "refused", reason: "alias_invalid", alias_id: "al_1", address: "sales@d.example", company: "Acme", error: "config_follower_no_partners" },
    [/followers only, but its thread has none/, /^Refused: The message could not be accepted by the address sales@d\.example\. Please try again later/],
  ],
  [{ outcome: "refused", reason: "alias_disabled", alias_id: "al_1", address: "sales@d.example" }, [/is disabled\.$/, /^Refused: The address sales@d\.example is disabled/]],
  [
    { outcome: "refused", reason: "sender_loop", recipient: "sales@d.example", route_key: "alias:al_1", count: 20, minutes: 120 },
    [/20 messages into alias:al_1 within 120 minutes/, /^Refused: .*contacted it too many times in the last 120 minutes/],
  ],
  [{ outcome: "refused", reason: "hop_limit", received: 40 }, [/40 Received headers/, /^Refused: Mail loop detected/]],
  [
    { outcome: "refused", reason: "too_large", size: 30_000_000, limit: 26_214_400, recorded_only: true },
    [/30000000 bytes/, /^Refused: The message is 30000000 bytes/, /recorded only, and nobody was answered/],
  ],
  [{ outcome: "dropped", reason: "duplicate", duplicate_of: "msg_1", same_delivery: true }, [/retried a delivery accepted earlier \(msg_1\)/, /^SMTP answer: accepted/]],
  [{ outcome: "dropped", reason: "duplicate", duplicate_of: null, same_delivery: false }, [/A duplicate of a message already received/]],
  [{ outcome: "dropped", reason: "loop_reply" }, [/reply to one of our own refusals/]],
  [{ outcome: "dropped", reason: "automatic", marker: "Auto-Submitted: auto-replied" }, [/Automatic mail \(Auto-Submitted: auto-replied\)/]],
  [
    { outcome: "accepted", reason: "send", relay_id: "rl_1", selection: "domain", from_rewrite: "none", author, bounce_address: "bounce+x@d.example" },
    [
      /Sent through the API/,
      /^Relay Main \(rl_1\): its From filter names the From address's domain\.$/,
      /From kept: Sales <sales@d\.example>/,
      /Bounces come back to bounce\+x@d\.example/,
    ],
  ],
  [
    {
      outcome: "accepted",
      reason: "notification",
      notification_of: "msg_1",
      delivery_id: "dl_1",
      relay_id: "rl_2",
      selection: "first",
      from_rewrite: "notifications",
      author,
      bounce_address: null,
    },
    [/notification to a follower of message msg_1/, /first relay by sequence/, /rewritten to the domain's notifications address/, /relay sets its own Return-Path/],
  ],
  [
    { outcome: "accepted", reason: "send", relay_id: "rl_1", selection: "no_filter", from_rewrite: "fixed_sender", author, bounce_address: null },
    [/no From filter/, /fixed sender/],
  ],
  [{ outcome: "refused", reason: "erased" }, [/^Erased: .*\(refused\)/]],
];

const names = {
  alias: (id: string) => (id === "al_1" ? "sales@d.example" : undefined),
  pinned: (id: string) => (id === "al_6" ? "th_6" : null),
  relay: (id: string) => (id === "rl_1" ? "Main" : undefined),
};

describe("traceSteps", () => {
  it.each(TABLE.map(([decision, expected]) => [decision.reason, decision, expected] as const))("%s", (_reason, decision, expected) => {
    // Every decision of the table is one the schema accepts: the table cannot drift from the contract.
    expect(StoredDecisionSchema.parse(decision)).toEqual(decision);
    const steps = traceSteps(decision, names);
    expect(steps.length).toBeGreaterThan(0);
    for (const s of steps) expect(s.text).not.toMatch(/undefined|\[object/);
    for (const pattern of expected) expect(steps.map((s) => s.text)).toContainEqual(expect.stringMatching(pattern));
  });

  it("the table covers every reason a stored decision can have", () => {
    const reasons = new Set(StoredDecisionSchema.options.map((option) => option.shape.reason.value));
    expect(new Set(TABLE.map(([d]) => d.reason))).toEqual(reasons);
  });

  it("a refusal's step is 'Refused: ' and exactly the SMTP text, and the last step is the answer", () => {
    for (const [decision] of TABLE) {
      if (decision.outcome !== "refused" || decision.reason === "erased") continue;
      const { outcome: _o, recorded_only: _r, ...refusal } = decision as Extract<StoredDecision, { outcome: "refused"; recipient?: string }> & { recorded_only?: true };
      const steps = traceSteps(decision);
      expect(steps.filter((s) => s.kind === "refused").map((s) => s.text)).toEqual([`Refused: ${refusalText(refusal as never)}`]);
      expect(steps.at(-1)!.kind).toBe("answer");
    }
  });

  it("ids stand in for names the page does not know", () => {
    const steps = traceSteps({ outcome: "refused", reason: "alias_disabled", alias_id: "al_7", address: "x@d.example" });
    expect(steps[0]!.text).toBe("The alias al_7 is disabled.");
  });
});
