/**
 * `decide()` (src/inbound/route.ts) over Odoo's gateway cases
 * (shared/reference/odoo-gateway.md 1-3), one row each. A row gives the mail
 * and data it changes from `mail()`/`data()` (test/unit/fixtures.ts: a mail
 * from alice@customer.test to sales@example.com, the aliases listed there)
 * and the key fields of the decision (matched with `toMatchObject`: arrays
 * must have the same length, objects may hold more fields).
 */
import { describe, expect, it } from "vitest";
import { toInboundMail } from "../../src/inbound/inbound-mail";
import { decide, hasRealContent, MAX_RECEIVED_HEADERS, refusalText, UNREAD_BOUNCE } from "../../src/inbound/route";
import { type Decision, data, type InboundMail, mail, prior, RCPT, type RoutingData, SENDER } from "./fixtures.ts";

/** What the `support` alias (known senders only) says to a sender it does not know. */
const SUPPORT_REFUSES_UNKNOWN = {
  alias_id: "support",
  address: "support@example.com",
  policy: "known" as const,
  custom_text: null,
  company: "Example Co",
  contact_email: "info@example.com",
};

type Refusal = Parameters<typeof refusalText>[0];
type DroppedReason = Extract<Decision, { outcome: "dropped" }>["reason"];
type BounceSignal = Extract<Decision, { reason: "bounce" }>["signal"];

interface Row {
  name: string;
  mail?: Partial<InboundMail> & { cc?: string[] };
  data?: Partial<RoutingData>;
  expected: Record<string, unknown>;
}

const to = (address: string) => ({ envelope: { from: SENDER, to: address } });
const routed = (...routes: Record<string, unknown>[]) => ({ outcome: "accepted", reason: "routed", routes });
const aliasRoute = (id: string) => ({ kind: "alias", route_key: `alias:${id}`, alias_id: id, thread_id: null });
const pinnedRoute = (id: string, thread: string) => ({ kind: "alias", route_key: `thread:${thread}`, alias_id: id, thread_id: thread });
const threadRoute = (thread: string, aliasId: string | null) => ({ kind: "thread", route_key: `thread:${thread}`, thread_id: thread, alias_id: aliasId });
const refused = (reason: Refusal["reason"], fields: Record<string, unknown> = {}) => ({ outcome: "refused", reason, ...fields });
const bounce = (signal: BounceSignal) => ({ outcome: "accepted", reason: "bounce", signal, bounce: UNREAD_BOUNCE });
const replyTo = (threadId: string, aliasId: string | null) => ({ replyTarget: { threadId, aliasId, destinations: [] } });
const follows = (threadId: string, count: number, senderFollows: boolean) => ({ followers: [{ threadId, count, senderFollows }] });
const AUTO = "auto-submitted: auto-replied";

const rows: Row[] = [
  // 1. Hop limit (RFC 5321 6.3, beyond Odoo).
  { name: "hop limit: more Received fields than the limit", mail: { receivedCount: MAX_RECEIVED_HEADERS + 1 }, expected: refused("hop_limit", { received: 51 }) },
  { name: "hop limit: exactly the limit still routes", mail: { receivedCount: MAX_RECEIVED_HEADERS }, expected: routed(aliasRoute("sales")) },
  { name: "hop limit comes before duplicates", mail: { receivedCount: 60 }, data: { priorMessages: [prior("in-1")] }, expected: refused("hop_limit", { received: 60 }) },

  // 2. Duplicates (Odoo: a known Message-Id is ignored, nothing sent back).
  {
    name: "duplicate: same sender, same recipient (a retry)",
    data: { priorMessages: [prior("in-1")] },
    expected: { outcome: "dropped", reason: "duplicate", duplicate_of: "in-1", same_delivery: true },
  },
  {
    name: "duplicate: a copy of our own outbound mail, whoever sends it back",
    mail: { sender: "bob@elsewhere.test" },
    data: { priorMessages: [prior("out-1", { direction: "out", status: "sent", rcptTo: "alice@customer.test", sender: null })] },
    expected: { outcome: "dropped", reason: "duplicate", duplicate_of: "out-1", same_delivery: false },
  },
  {
    name: "duplicate: same sender, other recipient, route not taken yet",
    data: { priorMessages: [prior("in-1", { rcptTo: "support@example.com" })] },
    expected: routed(aliasRoute("sales")),
  },
  {
    name: "duplicate: same sender, other recipient, route already claimed",
    data: { priorMessages: [prior("in-1", { rcptTo: "support@example.com" })], claimedRoutes: ["alias:sales"] },
    expected: { outcome: "dropped", reason: "duplicate", duplicate_of: "in-1", same_delivery: false },
  },
  { name: "duplicate: an earlier refused copy does not count", data: { priorMessages: [prior("in-1", { status: "refused" })] }, expected: routed(aliasRoute("sales")) },
  {
    name: "message_id_collision: another sender's message with this id blocks nothing",
    data: { priorMessages: [prior("in-9", { sender: "mallory@evil.test" })] },
    expected: { ...routed(aliasRoute("sales")), message_id_collision: ["in-9"] },
  },

  // 3. Reply to one of Odoo's loop-detection bounces.
  { name: "loop reply: References names a loop-detection bounce", mail: { repliesToLoopBounce: true }, expected: { outcome: "dropped", reason: "loop_reply" } },
  { name: "loop reply: dropped before bounce detection", mail: { repliesToLoopBounce: true, ...to("bounce@example.com") }, expected: { outcome: "dropped", reason: "loop_reply" } },
  {
    name: "loop reply: dropped even for an allowed sender",
    mail: { repliesToLoopBounce: true },
    data: { senderAllowed: true },
    expected: { outcome: "dropped", reason: "loop_reply" },
  },

  // 4. Bounce detection: never opens or joins a thread.
  { name: "bounce: written to the bounce address", mail: to("bounce@example.com"), expected: bounce("bounce_address") },
  { name: "bounce: the bounce address of another domain we serve", mail: to("returns@other.org"), expected: bounce("bounce_address") },
  { name: "bounce: our VERP form bounce+token@domain", mail: to("bounce+0a1b2c.3d4e@example.com"), expected: bounce("verp") },
  {
    name: "bounce: From MAILER-DAEMON (any case), even to an alias",
    mail: { from: { name: "Mail Delivery System", address: "MAILER-DAEMON@mx.customer.test" } },
    expected: bounce("mailer_daemon"),
  },
  { name: "bounce: Content-Type multipart/report", mail: { contentType: 'multipart/report; report-type=delivery-status; boundary="b"' }, expected: bounce("report") },
  {
    name: "bounce: a malformed type that still says report-type=delivery-status",
    mail: { contentType: "multipart/mixed; report-type=delivery-status" },
    expected: bounce("report"),
  },
  { name: "bounce: a bounce address of a domain we do not serve is ordinary mail", mail: { to: ["bounce@elsewhere.test", RCPT] }, expected: routed(aliasRoute("sales")) },
  { name: "bounce: the bounce address in Cc only is not a bounce (To > Cc)", mail: { cc: ["bounce@example.com"] }, expected: routed(aliasRoute("sales")) },
  { name: "bounce: the catchall with a +tag is not VERP", mail: to("catchall+x@example.com"), expected: refused("no_route", { recipient: "catchall+x@example.com" }) },
  {
    name: "bounce: a second delivery of a bounce already read is a duplicate",
    mail: to("bounce@example.com"),
    data: { priorMessages: [prior("in-1", { rcptTo: "returns@other.org" })] },
    expected: { outcome: "dropped", reason: "duplicate", duplicate_of: "in-1", same_delivery: false },
  },

  // 5. Replies, unless the mail is a forward to an alias of another kind.
  { name: "reply: the thread's alias addressed", data: replyTo("t-1", "sales"), expected: routed(threadRoute("t-1", "sales")) },
  {
    name: "reply: through the catchall (not a catchall-only refusal)",
    mail: to("catchall@example.com"),
    data: replyTo("t-1", "sales"),
    expected: routed(threadRoute("t-1", null)),
  },
  { name: "reply: to an address nothing routes", mail: to("nobody@example.com"), data: replyTo("t-1", "sales"), expected: routed(threadRoute("t-1", null)) },
  {
    name: "reply: the thread's alias in Cc counts for the policy",
    mail: { ...to("catchall@example.com"), cc: ["sales@example.com"] },
    data: replyTo("t-1", "sales"),
    expected: routed(threadRoute("t-1", "sales")),
  },
  { name: "reply: to a pinned thread through its alias", mail: to("desk@example.com"), data: replyTo("t-desk", null), expected: routed(threadRoute("t-desk", "desk")) },
  {
    name: "reply: refused by the thread alias's policy (known senders)",
    mail: to("support@example.com"),
    data: replyTo("t-2", "support"),
    expected: refused("contact_policy", { alias_id: "support", address: "support@example.com", policy: "known" }),
  },
  { name: "reply: thread alias not addressed, no policy applies", mail: to("catchall@example.com"), data: replyTo("t-2", "support"), expected: routed(threadRoute("t-2", null)) },
  { name: "reply: a disabled alias's thread still takes replies", mail: to("closed@example.com"), data: replyTo("t-c", "closed"), expected: routed(threadRoute("t-c", "closed")) },
  {
    name: "reply: followers thread, the sender follows",
    mail: to("board@example.com"),
    data: { ...replyTo("t-board", "board"), ...follows("t-board", 2, true) },
    expected: routed(threadRoute("t-board", "board")),
  },
  {
    name: "reply: followers thread, the sender does not follow",
    mail: to("board@example.com"),
    data: { ...replyTo("t-board", "board"), ...follows("t-board", 2, false) },
    expected: refused("contact_policy", { alias_id: "board", policy: "followers" }),
  },
  {
    name: "reply: followers alias, the replied-to thread has no followers",
    mail: to("team@example.com"),
    data: { ...replyTo("t-9", "team"), ...follows("t-9", 0, false) },
    expected: refused("alias_invalid", { alias_id: "team", error: "config_follower_no_partners" }),
  },
  { name: "forward: To names an alias of another kind", mail: to("info@other.org"), data: replyTo("t-1", "sales"), expected: routed(aliasRoute("info")) },
  {
    name: "forward: Cc'd aliases are no longer recipients",
    mail: { ...to("info@other.org"), cc: ["sales@example.com", "support@example.com"] },
    data: replyTo("t-1", "sales"),
    expected: routed(aliasRoute("info")),
  },
  {
    name: "forward: an alias of another kind in Cc only is still a reply",
    mail: { cc: ["info@other.org"] },
    data: replyTo("t-1", "sales"),
    expected: routed(threadRoute("t-1", "sales")),
  },
  { name: "forward: to a local-part-only alias", mail: to("jobs@anywhere.test"), data: replyTo("t-1", "sales"), expected: routed(aliasRoute("jobs")) },

  // 6. Mail written only to the catchall.
  {
    name: "catchall only",
    mail: to("catchall@example.com"),
    expected: refused("catchall_direct", { recipient: "catchall@example.com", company: "Example Co", contact_email: "info@example.com" }),
  },
  {
    name: "catchall only, a domain with no company name or contact",
    mail: to("replies@other.org"),
    expected: refused("catchall_direct", { recipient: "replies@other.org", company: "other.org", contact_email: null }),
  },
  {
    name: "catchall next to a valid alias routes to the alias",
    mail: { ...to("catchall@example.com"), to: ["catchall@example.com", "sales@example.com"] },
    expected: routed(aliasRoute("sales")),
  },

  // 7. Aliases, each with its contact policy.
  { name: "alias: everyone", expected: routed(aliasRoute("sales")) },
  { name: "alias: in Cc routes (recipients read Cc)", mail: { ...to("nobody@example.com"), cc: ["sales@example.com"] }, expected: routed(aliasRoute("sales")) },
  { name: "alias: known senders, a known sender", mail: to("support@example.com"), data: { senderKnown: true }, expected: routed(aliasRoute("support")) },
  {
    name: "alias: known senders, an unknown sender",
    mail: to("support@example.com"),
    expected: refused("contact_policy", SUPPORT_REFUSES_UNKNOWN),
  },
  {
    name: "alias: the alias's own refusal text",
    mail: to("strict@example.com"),
    expected: refused("contact_policy", { alias_id: "strict", custom_text: "<p>Write to <b>info@example.com</b> instead.</p>" }),
  },
  {
    name: "alias: an empty-looking refusal text falls back to the default",
    mail: to("blank@example.com"),
    expected: refused("contact_policy", { alias_id: "blank", custom_text: null }),
  },
  {
    name: "alias: followers, no thread to look at",
    mail: to("team@example.com"),
    expected: refused("alias_invalid", { alias_id: "team", address: "team@example.com", company: "Example Co", error: "config_follower_no_record" }),
  },
  {
    name: "alias: followers, pinned thread with no follower data",
    mail: to("board@example.com"),
    expected: refused("alias_invalid", { alias_id: "board", error: "config_follower_no_partners" }),
  },
  {
    name: "alias: followers, pinned thread with no followers",
    mail: to("board@example.com"),
    data: follows("t-board", 0, false),
    expected: refused("alias_invalid", { error: "config_follower_no_partners" }),
  },
  {
    name: "alias: followers, the sender follows the pinned thread",
    mail: to("board@example.com"),
    data: follows("t-board", 3, true),
    expected: routed(pinnedRoute("board", "t-board")),
  },
  {
    name: "alias: followers, the sender does not follow",
    mail: to("board@example.com"),
    data: follows("t-board", 3, false),
    expected: refused("contact_policy", { alias_id: "board", policy: "followers" }),
  },
  { name: "alias: pinned to a thread (everyone)", mail: to("desk@example.com"), expected: routed(pinnedRoute("desk", "t-desk")) },
  { name: "alias: disabled", mail: to("closed@example.com"), expected: refused("alias_disabled", { alias_id: "closed", address: "closed@example.com" }) },
  {
    name: "alias: two aliases, two routes by address",
    mail: { to: ["support@example.com", RCPT] },
    data: { senderKnown: true },
    expected: routed(aliasRoute("sales"), aliasRoute("support")),
  },
  {
    name: "alias: one refuses, the other routes",
    mail: { to: ["support@example.com", RCPT] },
    expected: { ...routed(aliasRoute("sales")), refused: [{ reason: "contact_policy", alias_id: "support" }] },
  },
  {
    name: "alias: all refuse, the envelope recipient's refusal is given",
    mail: { ...to("support@example.com"), to: ["closed@example.com", "support@example.com"] },
    expected: refused("contact_policy", { alias_id: "support" }),
  },
  {
    name: "alias: all refuse, none is the envelope recipient: the first",
    mail: { ...to("nobody@example.com"), cc: ["support@example.com", "closed@example.com"] },
    expected: refused("alias_disabled", { alias_id: "closed" }),
  },
  { name: "alias: local-part only, any domain", mail: to("jobs@anywhere.test"), expected: routed(aliasRoute("jobs")) },
  {
    name: "alias: local-part only, an allowed domain",
    mail: to("jobs@partner.test"),
    data: { settings: { loopMinutes: 120, loopThreshold: 20, allowedDomains: ["partner.test"] } },
    expected: routed(aliasRoute("jobs")),
  },
  {
    name: "alias: local-part only, our alias domains are allowed too",
    mail: to("jobs@other.org"),
    data: { settings: { loopMinutes: 120, loopThreshold: 20, allowedDomains: ["partner.test"] } },
    expected: routed(aliasRoute("jobs")),
  },
  {
    name: "alias: local-part only, a domain outside the allowed list",
    mail: to("jobs@anywhere.test"),
    data: { settings: { loopMinutes: 120, loopThreshold: 20, allowedDomains: ["partner.test"] } },
    expected: refused("no_route", { recipient: "jobs@anywhere.test" }),
  },
  { name: "alias: a full-address alias does not match its local part elsewhere", mail: to("sales@other.org"), expected: refused("no_route", { recipient: "sales@other.org" }) },
  { name: "alias: no plus-addressing (sales+tag is not sales)", mail: to("sales+tag@example.com"), expected: refused("no_route", { recipient: "sales+tag@example.com" }) },

  // 8. Catchall next to unroutable addresses; 9. no route.
  {
    name: "catchall next to an unroutable address",
    mail: { ...to("nobody@example.com"), to: ["catchall@example.com", "nobody@example.com"] },
    expected: refused("catchall_direct", { recipient: "catchall@example.com" }),
  },
  {
    name: "catchall in Cc only does not refuse (To > Cc)",
    mail: { ...to("nobody@example.com"), cc: ["catchall@example.com"] },
    expected: refused("no_route", { recipient: "nobody@example.com" }),
  },
  { name: "no route", mail: to("nobody@example.com"), expected: refused("no_route", { recipient: "nobody@example.com" }) },
  { name: "no route: no recipients at all", mail: { to: [], recipients: [] }, expected: refused("no_route", { recipient: RCPT }) },

  // Automatic mail (RFC 3834, beyond Odoo): never opens a thread on an alias that would answer it.
  {
    name: "automatic: to an alias that adds the sender as follower",
    mail: { ...to("newsletter@example.com"), automatic: AUTO },
    expected: { outcome: "dropped", reason: "automatic", marker: AUTO },
  },
  { name: "automatic: to an alias that does not", mail: { automatic: AUTO }, expected: routed(aliasRoute("sales")) },
  {
    name: "automatic: only the answering alias is skipped",
    mail: { to: ["newsletter@example.com", RCPT], automatic: "precedence: bulk" },
    expected: { ...routed(aliasRoute("sales")), skipped: [{ route_key: "alias:newsletter", why: "automatic" }] },
  },
  {
    name: "automatic: a reply to a thread is routed",
    mail: { ...to("newsletter@example.com"), automatic: AUTO },
    data: replyTo("t-n", "newsletter"),
    expected: routed(threadRoute("t-n", "newsletter")),
  },

  // Sender loop guard (Odoo's `_detect_loop_sender`).
  {
    name: "sender loop: the threshold reached",
    data: { loopCounts: { "alias:sales": 20 } },
    expected: refused("sender_loop", { recipient: RCPT, route_key: "alias:sales", count: 20, minutes: 120 }),
  },
  { name: "sender loop: one below the threshold", data: { loopCounts: { "alias:sales": 19 } }, expected: routed(aliasRoute("sales")) },
  { name: "sender loop: an allowed sender is exempt", data: { loopCounts: { "alias:sales": 500 }, senderAllowed: true }, expected: routed(aliasRoute("sales")) },
  { name: "sender loop: mail with no sender is exempt", mail: { sender: null }, data: { loopCounts: { "alias:sales": 500 } }, expected: routed(aliasRoute("sales")) },
  {
    name: "sender loop: one looping route blocks the whole message",
    mail: { to: ["desk@example.com", RCPT] },
    data: { loopCounts: { "thread:t-desk": 25 } },
    expected: refused("sender_loop", { route_key: "thread:t-desk", count: 25 }),
  },
  {
    name: "sender loop: replies to one thread",
    data: { ...replyTo("t-1", "sales"), loopCounts: { "thread:t-1": 20 } },
    expected: refused("sender_loop", { route_key: "thread:t-1" }),
  },
  {
    name: "sender loop: the configured threshold and window",
    data: { settings: { loopMinutes: 30, loopThreshold: 5, allowedDomains: [] }, loopCounts: { "alias:sales": 5 } },
    expected: refused("sender_loop", { count: 5, minutes: 30 }),
  },
];

// Adding a reason to the code without a row here fails tsc (`satisfies`) or a coverage test below.
// `too_large` is not decide()'s: the fetcher refuses a fetched message by its size alone (test/incoming-servers.test.ts).
const REFUSALS = { no_route: 1, catchall_direct: 1, contact_policy: 1, alias_invalid: 1, alias_disabled: 1, sender_loop: 1, hop_limit: 1 } satisfies Record<
  Exclude<Refusal["reason"], "too_large">,
  1
>;
const DROPPED = { duplicate: 1, loop_reply: 1, automatic: 1 } satisfies Record<DroppedReason, 1>;
const SIGNALS = { bounce_address: 1, verp: 1, mailer_daemon: 1, report: 1 } satisfies Record<BounceSignal, 1>;

describe("decide", () => {
  it.each(rows)("$name", (row) => {
    expect(decide(mail(row.mail), data(row.data))).toMatchObject(row.expected);
  });

  it.each([
    ["refused", Object.keys(REFUSALS)],
    ["dropped", Object.keys(DROPPED)],
  ])("every %s reason has a row", (outcome, reasons) => {
    const covered = new Set(rows.filter((r) => r.expected.outcome === outcome).map((r) => r.expected.reason));
    expect([...covered].sort()).toEqual([...reasons].sort());
  });
  it("every bounce signal has a row", () => {
    const covered = new Set(rows.filter((r) => r.expected.reason === "bounce").map((r) => r.expected.signal));
    expect([...covered].sort()).toEqual(Object.keys(SIGNALS).sort());
  });
});

/** The same rules through the header-block builder: what an MTA hands us, normalized on the way in. */
type Headers = Parameters<typeof toInboundMail>[0];
const h = (block: Record<string, string | string[]>): Headers =>
  Object.entries(block).flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map((v) => ({ key, originalKey: key, value: v })));

const headerRows: { name: string; rcpt: string; headers: Record<string, string | string[]>; data?: Partial<RoutingData>; expected: Record<string, unknown> }[] = [
  {
    name: "To in another case routes to the alias",
    rcpt: "Sales@EXAMPLE.com",
    headers: { from: "Alice <Alice@Customer.test>", to: "Sales Team <SALES@Example.COM>" },
    expected: routed(aliasRoute("sales")),
  },
  {
    name: "alias in Cc, delivered to it",
    rcpt: "support@example.com",
    headers: { from: "alice@customer.test", to: "someone@elsewhere.test", cc: "support@example.com" },
    data: { senderKnown: true },
    expected: routed(aliasRoute("support")),
  },
  {
    name: "Delivered-To counts as To: a catchall there refuses",
    rcpt: "catchall@example.com",
    headers: { from: "alice@customer.test", "delivered-to": "catchall@example.com", to: "undisclosed-recipients:;" },
    expected: refused("catchall_direct"),
  },
  {
    name: "References with a loop-detection bounce id",
    rcpt: "sales@example.com",
    headers: { from: "alice@customer.test", to: "sales@example.com", references: "<1.2-openerp-loop-detection-bounce-email@host>" },
    expected: { outcome: "dropped", reason: "loop_reply" },
  },
  {
    name: "From MAILER-DAEMON",
    rcpt: "sales@example.com",
    headers: { from: "Mail Delivery System <MAILER-DAEMON@mx.customer.test>", to: "sales@example.com" },
    expected: bounce("mailer_daemon"),
  },
  {
    name: "Content-Type multipart/report",
    rcpt: "sales@example.com",
    headers: { from: "postmaster@customer.test", to: "sales@example.com", "content-type": "Multipart/Report; report-type=delivery-status; boundary=x" },
    expected: bounce("report"),
  },
  {
    name: "Auto-Submitted to an answering alias",
    rcpt: "newsletter@example.com",
    headers: { from: "alice@customer.test", to: "newsletter@example.com", "auto-submitted": "auto-replied" },
    expected: { outcome: "dropped", reason: "automatic", marker: "auto-submitted: auto-replied" },
  },
  {
    name: "Auto-Submitted: no is not automatic",
    rcpt: "newsletter@example.com",
    headers: { from: "alice@customer.test", to: "newsletter@example.com", "auto-submitted": "no" },
    expected: routed(aliasRoute("newsletter")),
  },
  {
    name: "51 Received fields",
    rcpt: "sales@example.com",
    headers: { received: Array.from({ length: 51 }, (_, i) => `from hop${i}`), to: "sales@example.com" },
    expected: refused("hop_limit", { received: 51 }),
  },
];

describe("decide, from a header block (toInboundMail)", () => {
  it.each(headerRows)("$name", (row) => {
    const inbound = toInboundMail(h(row.headers), { from: "bounces@customer.test", to: row.rcpt }, "<m1@customer.test>", 1000);
    expect(decide(inbound, data(row.data))).toMatchObject(row.expected);
  });
});

const refusalRows: { refusal: Refusal; text: string }[] = [
  { refusal: { reason: "no_route", recipient: "nobody@example.com" }, text: "There is no mailbox or alias for nobody@example.com here. Please check the address." },
  {
    refusal: { reason: "catchall_direct", recipient: "catchall@example.com", company: "Example Co", contact_email: "info@example.com" },
    text: "The email sent to catchall@example.com cannot be processed. This address is used to collect replies and should not be used to directly contact Example Co. Please contact us instead using info@example.com.",
  },
  {
    refusal: { reason: "catchall_direct", recipient: "replies@other.org", company: "other.org", contact_email: null },
    text: "The email sent to replies@other.org cannot be processed. This address is used to collect replies and should not be used to directly contact other.org.",
  },
  {
    refusal: { reason: "contact_policy", ...SUPPORT_REFUSES_UNKNOWN },
    text: "The message could not be accepted by the address support@example.com. Only addresses linked to registered contacts are allowed to contact it. Please make sure you are using the correct address or contact us at info@example.com instead.",
  },
  {
    refusal: { reason: "contact_policy", alias_id: "board", address: "board@example.com", policy: "followers", custom_text: null, company: "Example Co", contact_email: null },
    text: "The message could not be accepted by the address board@example.com. Only some specific addresses are allowed to contact it. Please make sure you are using the correct address or contact us at Example Co instead.",
  },
  {
    refusal: {
      reason: "contact_policy",
      alias_id: "strict",
      address: "strict@example.com",
      policy: "known",
      custom_text: "<p>Write to\n<b>info@example.com</b>   instead.</p>",
      company: "Example Co",
      contact_email: null,
    },
    text: "Write to info@example.com instead.",
  },
  {
    refusal: { reason: "contact_policy", alias_id: "long", address: "long@example.com", policy: "known", custom_text: "x".repeat(500), company: "Example Co", contact_email: null },
    text: `${"x".repeat(399)}…`,
  },
  {
    refusal: { reason: "alias_invalid", alias_id: "team", address: "team@example.com", company: "Example Co", error: "config_follower_no_record" },
    text: "The message could not be accepted by the address team@example.com. Please try again later or contact Example Co instead.",
  },
  { refusal: { reason: "alias_disabled", alias_id: "closed", address: "closed@example.com" }, text: "The address closed@example.com is disabled and does not accept mail." },
  {
    refusal: { reason: "sender_loop", recipient: "sales@example.com", route_key: "alias:sales", count: 20, minutes: 120 },
    text: "The message could not be accepted by the address sales@example.com because you have contacted it too many times in the last 120 minutes. Please try again later.",
  },
  { refusal: { reason: "hop_limit", received: 51 }, text: "Mail loop detected: the message went through 51 relays (more than 50)." },
];

describe("refusalText", () => {
  it.each(refusalRows)("$refusal.reason: $text", ({ refusal, text }) => {
    expect(refusalText(refusal)).toBe(text);
  });
  it("is one printable line for every reason", () => {
    for (const { refusal } of refusalRows) expect(refusalText(refusal)).toMatch(/^[^\r\n]+$/);
  });
  it("has a row for every refusal reason", () => {
    expect([...new Set(refusalRows.map((r) => r.refusal.reason))].sort()).toEqual(Object.keys(REFUSALS).sort());
  });
});

// Odoo's `is_html_empty`: only the layout tags p, div, section, span, br, b, i, font are "empty".
const contentRows: [string | null, boolean][] = [
  [null, false],
  ["", false],
  ["   \n ", false],
  ["<p><br></p>", false],
  ["<div><p> </p><br/><span></span></div>", false],
  ['<p class="x" style="a:b"><b><i><font color="red"></font></i></b></p>', false],
  ["<section>\n</section>", false],
  ["<p>&nbsp;</p>", false],
  ["Go away", true],
  ["<p>Go away</p>", true],
  ["<strong></strong>", true],
  ["<em></em>", true],
  ["<img src=x>", true],
  ['<i class="fa fa-star"></i>', false],
];

describe("hasRealContent", () => {
  it.each(contentRows)("%j → %s", (text, expected) => {
    expect(hasRealContent(text)).toBe(expected);
  });
});
