/**
 * Odoo's From rewriting and envelope sender (`_prepare_email_message`,
 * `encapsulate_email`, `_notify_get_reply_to`: shared/reference/odoo-gateway.md
 * 4.5, 5.4): `planSender`, `encapsulate`, `formatReplyTo`
 * (src/outbound/rewrite-from.ts) and the whole plan (`planMessage`,
 * src/outbound/plan.ts: relay choice, then the sender).
 */
import { describe, expect, it } from "vitest";
import { domainFor, notificationsAddress, type PlanDomain, type PlanRelay, type PlanThread, planMessage } from "../../src/outbound/plan";
import { encapsulate, formatReplyTo, planSender } from "../../src/outbound/rewrite-from";

type SenderInput = Parameters<typeof planSender>[0];
type Mailbox = SenderInput["author"];

const NOTIFICATIONS = "notifications@example.com";
const VERP = "bounce+tok3n@example.com";
const THREAD_REPLY_TO: Mailbox = { name: "Example Co Order 42", address: "catchall@example.com" };

function input(overrides: Partial<SenderInput> & { fromFilter?: string | null; fixedSender?: string | null; envelopeIsFrom?: boolean } = {}): SenderInput {
  const { fromFilter = "example.com", fixedSender = null, envelopeIsFrom = false, ...rest } = overrides;
  const author = rest.author ?? { name: "Admin", address: "admin@example.com" };
  return {
    author,
    smtpFrom: author.address,
    relay: { fromFilter, fixedSender, envelopeIsFrom },
    notificationsEmail: NOTIFICATIONS,
    bounceAddress: VERP,
    replyTo: null,
    threadReplyTo: THREAD_REPLY_TO,
    ...rest,
  };
}

const gmailAdmin: Mailbox = { name: "Admin", address: "admin@gmail.com" };

describe("planSender", () => {
  const rows: { name: string; input: SenderInput; expected: Record<string, unknown> }[] = [
    {
      name: "relay may send as the author's domain: From kept, envelope the bounce address",
      input: input(),
      expected: { from: { name: "Admin", address: "admin@example.com" }, envelopeFrom: VERP, rewrite: "none", replyTo: THREAD_REPLY_TO },
    },
    {
      name: "relay chosen for the notifications address: From rewritten with the author's name",
      input: input({ author: gmailAdmin, smtpFrom: NOTIFICATIONS, fromFilter: NOTIFICATIONS }),
      expected: { from: { name: "Admin", address: NOTIFICATIONS }, envelopeFrom: NOTIFICATIONS, rewrite: "notifications" },
    },
    {
      name: "rewritten, no display name: the author's local part becomes the name",
      input: input({ author: { name: "", address: "test@unknown-domain.test" }, smtpFrom: NOTIFICATIONS }),
      expected: { from: { name: "test", address: NOTIFICATIONS }, rewrite: "notifications" },
    },
    {
      name: "rewritten, quoted local part: unquoted as the name",
      input: input({ author: { name: "", address: '"john doe"@unknown-domain.test' }, smtpFrom: NOTIFICATIONS }),
      expected: { from: { name: "john doe", address: NOTIFICATIONS } },
    },
    {
      name: "rewritten to the notifications address in its canonical form",
      input: input({ author: gmailAdmin, smtpFrom: "Notifications@Example.COM", notificationsEmail: "Notifications@Example.COM" }),
      expected: { from: { name: "Admin", address: NOTIFICATIONS }, rewrite: "notifications" },
    },
    {
      name: "rewritten: the domain filter allows the bounce address on the envelope",
      input: input({ author: gmailAdmin, smtpFrom: NOTIFICATIONS, fromFilter: "example.com" }),
      expected: { from: { name: "Admin", address: NOTIFICATIONS }, envelopeFrom: VERP, replyTo: THREAD_REPLY_TO },
    },
    {
      name: "the author is the notifications address (another case): no rewrite",
      input: input({ author: { name: "Bot", address: "Notifications@example.com" }, smtpFrom: NOTIFICATIONS }),
      expected: { from: { name: "Bot", address: "Notifications@example.com" }, rewrite: "none" },
    },
    {
      name: "no notifications address: From kept even on a foreign relay (Odoo's spoofing)",
      input: input({ author: gmailAdmin, smtpFrom: gmailAdmin.address, notificationsEmail: null, fromFilter: null }),
      expected: { from: gmailAdmin, envelopeFrom: VERP, rewrite: "none" },
    },
    {
      name: "no filter: the bounce address is allowed on the envelope",
      input: input({ fromFilter: null }),
      expected: { envelopeFrom: VERP },
    },
    {
      name: "the filter does not allow the bounce address: envelope = From",
      input: input({ fromFilter: "admin@example.com" }),
      expected: { from: { name: "Admin", address: "admin@example.com" }, envelopeFrom: "admin@example.com", rewrite: "none" },
    },
    {
      name: "no bounce address: envelope = From",
      input: input({ bounceAddress: null }),
      expected: { envelopeFrom: "admin@example.com" },
    },
    {
      name: "a relay whose envelope must be the From (Cloudflare): never the bounce address",
      input: input({ envelopeIsFrom: true, fromFilter: null }),
      expected: { envelopeFrom: "admin@example.com", rewrite: "none" },
    },
    {
      name: "envelope in punycode (IDN domain)",
      input: input({ author: { name: "", address: "admin@éxample.com" }, bounceAddress: null, fromFilter: null }),
      expected: { from: { name: "", address: "admin@éxample.com" }, envelopeFrom: "admin@xn--xample-9ua.com" },
    },
    {
      name: "the Reply-To asked for beats the thread's",
      input: input({ replyTo: { name: "Sales", address: "sales@example.com" } }),
      expected: { replyTo: { name: "Sales", address: "sales@example.com" } },
    },
    {
      name: "no Reply-To at all",
      input: input({ threadReplyTo: null }),
      expected: { replyTo: null },
    },
    {
      name: "fixed-sender relay: that account in From and envelope, the author's name, Reply-To the author",
      input: input({ author: gmailAdmin, fixedSender: "Relay-Account@Example.com" }),
      expected: { from: { name: "Admin", address: "relay-account@example.com" }, envelopeFrom: "relay-account@example.com", replyTo: gmailAdmin, rewrite: "fixed_sender" },
    },
    {
      name: "fixed-sender relay, no display name: the local part",
      input: input({ author: { name: "", address: "jane@gmail.com" }, fixedSender: "account@example.com" }),
      expected: { from: { name: "jane", address: "account@example.com" }, replyTo: { name: "", address: "jane@gmail.com" } },
    },
    {
      name: "fixed-sender relay keeps a Reply-To asked for",
      input: input({ author: gmailAdmin, fixedSender: "account@example.com", replyTo: { name: "Sales", address: "sales@example.com" } }),
      expected: { replyTo: { name: "Sales", address: "sales@example.com" }, envelopeFrom: "account@example.com" },
    },
    {
      name: "fixed-sender relay: the bounce address is never the envelope",
      input: input({ fixedSender: "account@example.com", fromFilter: null }),
      expected: { envelopeFrom: "account@example.com", rewrite: "fixed_sender" },
    },
  ];
  it.each(rows)("$name", (row) => {
    expect(planSender(row.input)).toMatchObject(row.expected);
  });
});

describe("encapsulate (Odoo 17+ encapsulate_email)", () => {
  const rows: [author: Mailbox, expected: Mailbox][] = [
    [
      { name: "Admin", address: "admin@example.com" },
      { name: "Admin", address: NOTIFICATIONS },
    ],
    [
      { name: "", address: "test@unknown-domain.test" },
      { name: "test", address: NOTIFICATIONS },
    ],
    [
      { name: "", address: "Mixed.Case@x.test" },
      { name: "Mixed.Case", address: NOTIFICATIONS },
    ],
    [
      { name: "", address: '"a, b"@x.test' },
      { name: "a, b", address: NOTIFICATIONS },
    ],
    [
      { name: "Zoë", address: "zoe@x.test" },
      { name: "Zoë", address: NOTIFICATIONS },
    ],
  ];
  it.each(rows)("%j", (author, expected) => {
    expect(encapsulate(author, NOTIFICATIONS)).toEqual(expected);
  });
});

describe("formatReplyTo (68 characters at most)", () => {
  const long = "A very long record name that takes up room";
  const rows: [name: string, address: string, company: string | null, record: string | null, expected: Mailbox][] = [
    ["company and record", "catchall@example.com", "Example Co", "Order 42", { name: "Example Co Order 42", address: "catchall@example.com" }],
    ["company and record too long: the record", "catchall@example.com", "Example Company Incorporated", long, { name: long, address: "catchall@example.com" }],
    ["no record: the company", "catchall@example.com", "Example Co", null, { name: "Example Co", address: "catchall@example.com" }],
    ["no company: the record", "catchall@example.com", null, "Order 42", { name: "Order 42", address: "catchall@example.com" }],
    ["neither: the bare address", "catchall@example.com", null, null, { name: "", address: "catchall@example.com" }],
    ["the record alone too long: the bare address", "catchall@example.com", null, "x".repeat(60), { name: "", address: "catchall@example.com" }],
    ["an address of 68 characters or more: bare", `${"a".repeat(56)}@example.com`, "Co", "R", { name: "", address: `${"a".repeat(56)}@example.com` }],
    // `"<name>" <catchall@example.com>` is the name plus 25 characters: a name of 43 fits exactly.
    ["exactly at the limit (68)", "catchall@example.com", "C", "x".repeat(41), { name: `C ${"x".repeat(41)}`, address: "catchall@example.com" }],
    ["one over the limit (69) falls back to the record", "catchall@example.com", "Co", "x".repeat(41), { name: "x".repeat(41), address: "catchall@example.com" }],
    // Non-ASCII names are measured encoded (=?utf-8?b?...?=), as they are written.
    ["a non-ASCII name is measured encoded", "catchall@example.com", "Société Générale", "Réclamation n° 12", { name: "Réclamation n° 12", address: "catchall@example.com" }],
  ];
  it.each(rows)("%s", (_name, address, company, record, expected) => {
    expect(formatReplyTo(address, company, record)).toEqual(expected);
  });
});

const EXAMPLE: PlanDomain = { name: "example.com", companyName: "Example Co", catchall: "catchall", bounce: "bounce", defaultFrom: "notifications" };
const OTHER: PlanDomain = { name: "other.org", companyName: null, catchall: "replies", bounce: "returns", defaultFrom: "noreply@other.org" };

describe("notificationsAddress and domainFor", () => {
  it.each([
    [EXAMPLE, "notifications@example.com"],
    [OTHER, "noreply@other.org"],
  ])("notificationsAddress(%j) = %s", (domain, expected) => {
    expect(notificationsAddress(domain)).toBe(expected);
  });

  const thread = (overrides: Partial<PlanThread>): PlanThread => ({ id: "t1", subject: null, aliasAddress: null, aliasDomain: null, domain: null, messageIds: [], ...overrides });
  const rows: [name: string, author: string, thread: PlanThread | null, expected: string | null, domains?: PlanDomain[]][] = [
    ["the thread's alias domain first", "admin@example.com", thread({ aliasDomain: "other.org", domain: "example.com" }), "other.org"],
    ["then the thread's own domain", "admin@example.com", thread({ domain: "other.org" }), "other.org"],
    ["then the author's domain when we serve it", "boss@other.org", null, "other.org"],
    ["an outside author: the first domain", "admin@gmail.com", null, "example.com"],
    ["a thread domain we no longer serve is skipped", "boss@other.org", thread({ aliasDomain: "gone.test", domain: "gone.test" }), "other.org"],
    ["no domains at all", "admin@gmail.com", null, null, []],
  ];
  it.each(rows)("domainFor: %s", (_name, author, t, expected, domains = [EXAMPLE, OTHER]) => {
    expect(domainFor(domains, { name: "", address: author }, t)?.name ?? null).toBe(expected);
  });
});

describe("planMessage (relay choice, then the sender)", () => {
  const relay = (id: string, fromFilter: string | null, overrides: Partial<PlanRelay> = {}): PlanRelay => ({
    id,
    name: id,
    type: "smtp",
    config: {},
    fromFilter,
    sequence: 10,
    stream: "transactional",
    fixedSender: null,
    ...overrides,
  });
  const RELAYS = [relay("example", "example.com"), relay("notif", "notifications@example.com"), relay("open", null)];
  const base: Parameters<typeof planMessage>[0] = {
    rowId: "01JABCDEF",
    author: { name: "Admin", address: "admin@example.com" },
    replyTo: null,
    stream: "transactional",
    relays: RELAYS,
    domain: EXAMPLE,
    thread: null,
    subject: "Order 42",
    bounceAddress: VERP,
  };
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `<m${i + 1}@example.com>`);
  const rows: { name: string; input: Partial<Parameters<typeof planMessage>[0]>; expected: Record<string, unknown> | null }[] = [
    {
      name: "our author on our domain: the domain's relay, From kept, VERP envelope, catchall Reply-To named after company and subject",
      input: {},
      expected: {
        relay: { id: "example" },
        step: "domain",
        sender: {
          from: { name: "Admin", address: "admin@example.com" },
          envelopeFrom: VERP,
          rewrite: "none",
          replyTo: { name: "Example Co Order 42", address: "catchall@example.com" },
        },
        messageId: "<01jabcdef@example.com>",
        inReplyTo: null,
        references: [],
      },
    },
    {
      name: "an outside author: rewritten to the notifications address",
      input: { author: gmailAdmin, relays: [relay("notif", "notifications@example.com"), relay("open", null)] },
      expected: {
        relay: { id: "notif" },
        step: "notifications_address",
        sender: { from: { name: "Admin", address: NOTIFICATIONS }, envelopeFrom: NOTIFICATIONS, rewrite: "notifications" },
      },
    },
    {
      name: "an outside author through the domain's relay: rewritten, VERP envelope",
      input: { author: gmailAdmin, relays: [relay("example", "example.com"), relay("open", null)] },
      expected: {
        relay: { id: "example" },
        step: "notifications_domain",
        sender: { from: { name: "Admin", address: NOTIFICATIONS }, envelopeFrom: VERP, rewrite: "notifications" },
      },
    },
    {
      name: "a domain with a full default From address",
      input: { author: gmailAdmin, domain: OTHER, relays: [relay("other", "other.org")], bounceAddress: null },
      expected: {
        relay: { id: "other" },
        sender: { from: { name: "Admin", address: "noreply@other.org" }, envelopeFrom: "noreply@other.org", replyTo: { name: "Order 42", address: "replies@other.org" } },
        messageId: "<01jabcdef@other.org>",
      },
    },
    {
      name: "no domain: no rewrite, the unfiltered relay, no Reply-To, Message-ID on the author's domain",
      input: { author: gmailAdmin, domain: null, bounceAddress: null },
      expected: {
        relay: { id: "open" },
        step: "no_filter",
        sender: { from: gmailAdmin, envelopeFrom: "admin@gmail.com", rewrite: "none", replyTo: null },
        messageId: "<01jabcdef@gmail.com>",
      },
    },
    {
      name: "only an unfiltered relay: it sends as the notifications address, so even our own author is rewritten (Odoo step 3)",
      input: { relays: [relay("open", null)] },
      expected: { relay: { id: "open" }, step: "no_filter", sender: { from: { name: "Admin", address: NOTIFICATIONS }, envelopeFrom: VERP, rewrite: "notifications" } },
    },
    {
      name: "a Cloudflare relay: the envelope is the From, never the VERP address",
      input: { relays: [relay("cf", "example.com", { type: "cloudflare" })] },
      expected: { relay: { id: "cf" }, sender: { from: { name: "Admin", address: "admin@example.com" }, envelopeFrom: "admin@example.com", rewrite: "none" } },
    },
    {
      name: "a fixed-sender relay",
      input: { author: gmailAdmin, relays: [relay("fixed", null, { fixedSender: "account@example.com" })] },
      expected: { sender: { from: { name: "Admin", address: "account@example.com" }, envelopeFrom: "account@example.com", replyTo: gmailAdmin, rewrite: "fixed_sender" } },
    },
    {
      name: "mass mail takes the mass relay",
      input: { stream: "mass", relays: [...RELAYS, relay("bulk", "example.com", { stream: "mass", sequence: 50 })] },
      expected: { relay: { id: "bulk" }, step: "domain" },
    },
    {
      name: "a reply: the thread's alias as Reply-To (named after its subject), threading headers",
      input: { thread: { id: "t1", subject: "Order 7", aliasAddress: "sales@example.com", aliasDomain: "example.com", domain: "example.com", messageIds: ids(3) } },
      expected: { sender: { replyTo: { name: "Example Co Order 7", address: "sales@example.com" } }, inReplyTo: "<m3@example.com>", references: ids(3) },
    },
    {
      name: "a long thread: the first reference and the last 19",
      input: { thread: { id: "t1", subject: null, aliasAddress: null, aliasDomain: null, domain: "example.com", messageIds: ids(25) } },
      expected: {
        sender: { replyTo: { name: "Example Co Order 42", address: "catchall@example.com" } },
        inReplyTo: "<m25@example.com>",
        references: [ids(25)[0], ...ids(25).slice(6)],
      },
    },
    { name: "no relay: no plan", input: { relays: [] }, expected: null },
  ];
  it.each(rows)("$name", (row) => {
    const plan = planMessage({ ...base, ...row.input });
    if (row.expected === null) expect(plan).toBeNull();
    else expect(plan).toMatchObject(row.expected);
  });
});
