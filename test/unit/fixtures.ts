/**
 * Builders for the pure routing rules' inputs. Types are derived from the
 * functions under test (not imported from wherever they are declared), so
 * moving a type between modules does not touch the tests.
 */
import type { decide } from "../../src/inbound/route";

export type InboundMail = Parameters<typeof decide>[0];
export type RoutingData = Parameters<typeof decide>[1];
export type Decision = ReturnType<typeof decide>;
export type AliasInfo = RoutingData["aliases"][number];
export type DomainInfo = RoutingData["domains"][number];
export type PriorMessage = RoutingData["priorMessages"][number];

/** The envelope recipient every row writes to, unless it says otherwise. */
export const RCPT = "sales@example.com";
export const SENDER = "alice@customer.test";

export const EXAMPLE: DomainInfo = {
  name: "example.com",
  companyName: "Example Co",
  catchall: "catchall",
  bounce: "bounce",
  defaultFrom: "notifications",
  contactEmail: "info@example.com",
};

export const OTHER: DomainInfo = {
  name: "other.org",
  companyName: null,
  catchall: "replies",
  bounce: "returns",
  defaultFrom: "noreply@other.org",
  contactEmail: null,
};

export function alias(id: string, overrides: Partial<AliasInfo> = {}): AliasInfo {
  const name = overrides.name ?? id;
  const domain = overrides.domain === undefined ? "example.com" : overrides.domain;
  return {
    id,
    name,
    domain,
    address: domain ? `${name}@${domain}` : name,
    contact: "everyone",
    localPartOnly: false,
    threadId: null,
    refusalText: null,
    enabled: true,
    addSenderAsFollower: false,
    followers: [],
    destinations: [{ type: "store" }],
    ...overrides,
  };
}

/**
 * The aliases every routing row can see: ids are the alias names.
 *
 * - sales: everyone; support: known senders; team: followers, no pinned thread;
 * - board: followers, pinned to thread t-board; desk: everyone, pinned to t-desk;
 * - jobs: local-part only, no domain; closed: disabled; newsletter: adds the sender as follower;
 * - strict: known senders, with a custom refusal text; blank: known senders, an empty-looking one.
 */
export const ALIASES: AliasInfo[] = [
  alias("sales"),
  alias("support", { contact: "known" }),
  alias("team", { contact: "followers" }),
  alias("board", { contact: "followers", threadId: "t-board" }),
  alias("desk", { threadId: "t-desk" }),
  alias("jobs", { domain: null, localPartOnly: true }),
  alias("closed", { enabled: false }),
  alias("newsletter", { addSenderAsFollower: true }),
  alias("strict", { contact: "known", refusalText: "<p>Write to <b>info@example.com</b> instead.</p>" }),
  alias("blank", { contact: "known", refusalText: "<p><br></p>" }),
  alias("info", { domain: "other.org" }),
];

/**
 * A mail to `envelope.to` (default RCPT) from SENDER. Unless given: `to` is
 * [envelope.to] (the envelope recipient counts as a Delivered-To), and
 * `recipients` is `to` plus `cc` (a shorthand for Cc/Resent addresses).
 */
export function mail(overrides: Partial<InboundMail> & { cc?: string[] } = {}): InboundMail {
  const { cc = [], ...rest } = overrides;
  const envelope = rest.envelope ?? { from: SENDER, to: RCPT };
  const to = rest.to ?? [envelope.to];
  const sender = rest.sender === undefined ? SENDER : rest.sender;
  return {
    envelope,
    messageId: "<m1@customer.test>",
    ownMessageId: null,
    from: sender ? { name: "Alice", address: sender } : null,
    sender,
    toHeader: to.map((address) => ({ name: "", address })),
    ccHeader: cc.map((address) => ({ name: "", address })),
    subject: "Hello",
    to,
    recipients: rest.recipients ?? [...new Set([...to, ...cc])],
    replyIds: [],
    repliesToLoopBounce: false,
    contentType: "text/plain",
    receivedCount: 2,
    automatic: null,
    size: 1000,
    ...rest,
  };
}

export function data(overrides: Partial<RoutingData> = {}): RoutingData {
  return {
    settings: { loopMinutes: 120, loopThreshold: 20, allowedDomains: [] },
    domains: [EXAMPLE, OTHER],
    aliases: ALIASES,
    priorMessages: [],
    claimedRoutes: [],
    replyTarget: null,
    followers: [],
    senderAllowed: false,
    senderKnown: false,
    loopCounts: {},
    ...overrides,
  };
}

/** An earlier inbound message with the same Message-ID. */
export function prior(id: string, overrides: Partial<PriorMessage> = {}): PriorMessage {
  return { id, direction: "in", status: "accepted", rcptTo: RCPT, sender: SENDER, ...overrides };
}
