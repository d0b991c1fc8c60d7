/**
 * The routing decision: pure, from the message's header facts and the data
 * read for it, to one `Decision`. It follows Odoo's `message_process` and
 * `message_route` (see shared/reference/odoo-gateway.md, sections 1 and 2),
 * in this order:
 *
 * 1. hop limit (RFC 5321 6.3, beyond Odoo);
 * 2. duplicate Message-ID from the same sender (another sender's message
 *    with the same id is a collision: routed as a message of its own);
 * 3. reply to one of Odoo's loop-detection bounces;
 * 4. bounce detection;
 * 5. reply detection, unless the mail is really a forward to an alias of
 *    another kind;
 * 6. mail written only to the catchall;
 * 7. aliases, each with its contact policy;
 * 8. catchall next to unroutable addresses;
 * 9. no route.
 *
 * Then, over the routes found: automatic mail may not open a thread on an
 * alias that would answer it, routes an earlier delivery of the same
 * Message-ID already took are skipped, and the sender loop guard may refuse
 * the whole message.
 */
import type { BounceSignal, BounceSummary, Decision, Refusal, Route } from "../decision";
import { domainOf, localPartOf } from "../mail/address";
import type { AliasContactPolicy, Destination, Mailbox } from "../model";
import type { InboundMail } from "./inbound-mail";

/** RFC 5321 6.3 suggests counting Received fields to break loops; the issue sets 50. */
export const MAX_RECEIVED_HEADERS = 50;

export interface RoutingSettings {
  loopMinutes: number;
  loopThreshold: number;
  allowedDomains: string[];
}

export interface DomainInfo {
  name: string;
  companyName: string | null;
  catchall: string;
  bounce: string;
  defaultFrom: string;
  contactEmail: string | null;
}

export interface AliasInfo {
  id: string;
  name: string;
  domain: string | null;
  address: string;
  contact: AliasContactPolicy;
  localPartOnly: boolean;
  threadId: string | null;
  refusalText: string | null;
  enabled: boolean;
  addSenderAsFollower: boolean;
  /** Followers of every thread the alias opens. */
  followers: Mailbox[];
  destinations: Destination[];
}

export interface PriorMessage {
  id: string;
  direction: "in" | "out";
  status: string;
  rcptTo: string;
  /** Inbound: who sent it (see `InboundMail.sender`). */
  sender: string | null;
}

export interface ReplyTarget {
  threadId: string;
  aliasId: string | null;
  /** Where the thread's alias delivers its mail; replies go there too. */
  destinations: Destination[];
}

export interface RoutingData {
  settings: RoutingSettings;
  /** Every domain we serve. */
  domains: DomainInfo[];
  /** The aliases any recipient, or the sender, could match (by address or by local part). */
  aliases: AliasInfo[];
  /** Stored messages with this Message-ID or our own message-id header. */
  priorMessages: PriorMessage[];
  /** Route keys earlier deliveries of this Message-ID took. */
  claimedRoutes: string[];
  /** The thread of the newest stored message among the reply ids. */
  replyTarget: ReplyTarget | null;
  /** Follower counts of the threads the contact policies may look at. */
  followers: { threadId: string; count: number; senderFollows: boolean }[];
  senderAllowed: boolean;
  senderKnown: boolean;
  /** Route keys this sender has already put `loop_threshold` messages into within the window, with their counts. */
  loopCounts: Record<string, number>;
}

export const UNREAD_BOUNCE: BounceSummary = {
  kind: null,
  recipient: null,
  status: null,
  diagnostic: null,
  original_message_id: null,
  original_id: null,
  verp: null,
  recipients: [],
  feedback_type: null,
  effects: { bounced: [], counted: [], suppressed: [], delayed: [] },
};

/** Who refusal texts name: the domain's company, else the domain, else "us", so a text never reads "contact null". */
export function companyOf(domain: DomainInfo | undefined): string {
  return domain?.companyName || domain?.name || "us";
}

/** Bounce detection (Odoo's `_detect_is_bounce`), plus our VERP form `bounce+token@domain`. */
export function detectBounce(mail: InboundMail, domains: DomainInfo[]): BounceSignal | null {
  for (const address of mail.to) {
    const domain = domains.find((d) => d.name === domainOf(address));
    if (!domain) continue;
    const local = localPartOf(address);
    if (local === domain.bounce) return "bounce_address";
    if (local.startsWith(`${domain.bounce}+`)) return "verp";
  }
  if (mail.from && localPartOf(mail.from.address).toLowerCase() === "mailer-daemon") return "mailer_daemon";
  if (mail.contentType.startsWith("multipart/report") || mail.contentType.includes("report-type=delivery-status")) return "report";
  return null;
}

/**
 * Odoo compares the alias's model with the replied-to record's model; our
 * "kind" is the thread's alias, or an alias pinned to that very thread.
 */
function belongsTo(alias: AliasInfo, thread: ReplyTarget): boolean {
  return alias.id === thread.aliasId || alias.threadId === thread.threadId;
}

type PolicyResult = { ok: true } | { ok: false; refusal: Refusal };

/**
 * Pure: the same mail and data always give the same decision, which POST
 * /v1/route-test and the route table tests rely on. The steps are in the
 * module's header.
 */
export function decide(mail: InboundMail, data: RoutingData): Decision {
  // 1. Hop limit: a message that went round this many relays is looping.
  if (mail.receivedCount > MAX_RECEIVED_HEADERS) return { outcome: "refused", reason: "hop_limit", received: mail.receivedCount };

  // 2. Duplicates. Senders choose Message-IDs, so only the same sender's earlier copy is the same
  // message: the same delivery seen before is resumed. A copy of mail we sent is dropped whoever
  // sends it back (Odoo's loop rule). Another sender's message with this id blocks nothing.
  const accepted = data.priorMessages.filter((m) => m.direction === "in" && m.status === "accepted");
  const sameSender = accepted.filter((m) => m.sender === mail.sender);
  const sameDelivery = sameSender.find((m) => m.rcptTo === mail.envelope.to);
  if (sameDelivery) return { outcome: "dropped", reason: "duplicate", duplicate_of: sameDelivery.id, same_delivery: true };
  const ours = data.priorMessages.find((m) => m.direction === "out");
  if (ours) return { outcome: "dropped", reason: "duplicate", duplicate_of: ours.id, same_delivery: false };

  // 3. A reply to an Odoo loop-detection bounce is dropped before anything else (`_detect_loop_headers`).
  if (mail.repliesToLoopBounce) return { outcome: "dropped", reason: "loop_reply" };

  // 4. Bounces never create or join a thread, and are read once whatever recipient they came to.
  const signal = detectBounce(mail, data.domains);
  const earlier = sameSender[0];
  if (signal && earlier) return { outcome: "dropped", reason: "duplicate", duplicate_of: earlier.id, same_delivery: false };
  if (signal) {
    return { outcome: "accepted", reason: "bounce", signal, bounce: UNREAD_BOUNCE };
  }

  const router = new Router(mail, data);
  const found = router.route();
  if (found.outcome !== "routes") return found.decision;
  const decision = router.finish(found.routes, found.refused);
  const collisions = accepted.filter((m) => m.sender !== mail.sender).map((m) => m.id);
  return decision.outcome === "accepted" && decision.reason === "routed" && collisions.length ? { ...decision, message_id_collision: collisions } : decision;
}

/**
 * The sender loop guard's verdict on some targets (route keys), from the
 * counts read for this sender: a refusal when one of them already holds
 * `loop_threshold` of its messages within `loop_minutes`. Allowed senders
 * and mail with no sender are never refused.
 */
export function loopRefusal(mail: InboundMail, data: RoutingData, routeKeys: string[]): Extract<Refusal, { reason: "sender_loop" }> | null {
  if (!mail.sender || data.senderAllowed) return null;
  for (const routeKey of routeKeys) {
    const count = data.loopCounts[routeKey] ?? 0;
    if (count >= data.settings.loopThreshold) {
      return { reason: "sender_loop", recipient: mail.envelope.to, route_key: routeKey, count, minutes: data.settings.loopMinutes };
    }
  }
  return null;
}

type Found = { outcome: "routes"; routes: Route[]; refused: Refusal[] } | { outcome: "decided"; decision: Decision };

class Router {
  private readonly catchalls: Map<string, DomainInfo>;
  private readonly localPartDomains: Set<string> | null;

  constructor(
    private readonly mail: InboundMail,
    private readonly data: RoutingData,
  ) {
    this.catchalls = new Map(data.domains.map((d) => [`${d.catchall}@${d.name}`, d]));
    const allowed = data.settings.allowedDomains;
    // Odoo: when `mail.catchall.domain.allowed` is set, every alias domain is allowed too.
    this.localPartDomains = allowed.length ? new Set([...allowed, ...data.domains.map((d) => d.name)]) : null;
  }

  /** Odoo's `_filter_excluded_local_part`: the local part, when local-part matching may use this address. */
  private localPart(address: string): string | null {
    const at = address.lastIndexOf("@");
    if (at < 0) return null;
    if (this.localPartDomains && !this.localPartDomains.has(address.slice(at + 1))) return null;
    return address.slice(0, at);
  }

  private matches(alias: AliasInfo, addresses: string[]): boolean {
    return addresses.some((a) => a === alias.address || (alias.localPartOnly && this.localPart(a) === alias.name));
  }

  private domainFor(alias: AliasInfo): DomainInfo | undefined {
    const name = alias.domain ?? domainOf(this.mail.envelope.to);
    return this.data.domains.find((d) => d.name === name) ?? this.data.domains[0];
  }

  route(): Found {
    const { mail, data } = this;
    let reply = data.replyTarget;
    let validRecipients = mail.recipients;

    // Forward detection (Odoo step 4): To/Delivered-To names an alias of another kind than the
    // thread's own, so this is new mail to that alias, not a reply. Cc does not count.
    if (reply) {
      const thread = reply;
      const forwardAliases = data.aliases.filter((a) => !belongsTo(a, thread) && this.matches(a, mail.to));
      if (forwardAliases.length) {
        reply = null;
        validRecipients = mail.recipients.filter((r) => forwardAliases.some((a) => this.matches(a, [r])));
      }
    }

    // Reply (Odoo step 5): the thread's own alias, when addressed, applies its contact policy.
    if (reply) {
      const thread = reply;
      const threadAlias = data.aliases.find((a) => belongsTo(a, thread) && this.matches(a, mail.recipients));
      if (threadAlias) {
        const policy = this.checkPolicy(threadAlias, reply.threadId);
        if (!policy.ok) return { outcome: "decided", decision: { outcome: "refused", ...policy.refusal } };
      }
      const route: Route = { kind: "thread", route_key: `thread:${reply.threadId}`, thread_id: reply.threadId, alias_id: threadAlias?.id ?? null };
      return { outcome: "routes", routes: [route], refused: [] };
    }

    if (mail.recipients.length) {
      // Odoo step 6.2: mail whose To/Delivered-To are all catchall addresses is refused.
      const catchallOnly = mail.to.length > 0 && mail.to.every((a) => this.catchalls.has(a));
      if (catchallOnly) return { outcome: "decided", decision: this.catchallRefusal() };

      // Odoo step 6.3: every alias among the recipients is a route, each checked on its own.
      const matched = data.aliases.filter((a) => this.matches(a, validRecipients)).sort((a, b) => (a.address < b.address ? -1 : 1));
      if (matched.length) {
        const routes: Route[] = [];
        const refused: Refusal[] = [];
        for (const alias of matched) {
          if (!alias.enabled) {
            refused.push({ reason: "alias_disabled", alias_id: alias.id, address: alias.address });
            continue;
          }
          const policy = this.checkPolicy(alias, alias.threadId);
          if (!policy.ok) {
            refused.push(policy.refusal);
            continue;
          }
          routes.push(
            alias.threadId
              ? { kind: "alias", route_key: `thread:${alias.threadId}`, alias_id: alias.id, thread_id: alias.threadId }
              : { kind: "alias", route_key: `alias:${alias.id}`, alias_id: alias.id, thread_id: null },
          );
        }
        return { outcome: "routes", routes, refused };
      }

      // Odoo step 8: a catchall next to addresses nothing routes.
      if (mail.to.some((a) => this.catchalls.has(a))) return { outcome: "decided", decision: this.catchallRefusal() };
    }

    // Odoo step 9: no route. Odoo raises; we refuse, so the sender's own server tells the sender.
    return { outcome: "decided", decision: { outcome: "refused", reason: "no_route", recipient: mail.envelope.to } };
  }

  private catchallRefusal(): Decision {
    const catchall = this.mail.to.find((a) => this.catchalls.has(a))!;
    const domain = this.catchalls.get(catchall);
    return { outcome: "refused", reason: "catchall_direct", recipient: catchall, company: companyOf(domain), contact_email: domain?.contactEmail ?? null };
  }

  /** Odoo's `_alias_get_error`: the followers of the pinned or replied-to thread, else no record. */
  private checkPolicy(alias: AliasInfo, threadId: string | null): PolicyResult {
    const domain = this.domainFor(alias);
    const refuse = (): PolicyResult => ({
      ok: false,
      refusal: {
        reason: "contact_policy",
        alias_id: alias.id,
        address: alias.address,
        policy: alias.contact,
        custom_text: hasRealContent(alias.refusalText) ? alias.refusalText : null,
        company: companyOf(domain),
        contact_email: domain?.contactEmail ?? null,
      },
    });
    switch (alias.contact) {
      case "everyone":
        return { ok: true };
      case "known":
        return this.data.senderKnown ? { ok: true } : refuse();
      case "followers": {
        const invalid = (error: "config_follower_no_record" | "config_follower_no_partners"): PolicyResult => ({
          ok: false,
          refusal: { reason: "alias_invalid", alias_id: alias.id, address: alias.address, company: companyOf(domain), error },
        });
        if (!threadId) return invalid("config_follower_no_record");
        const info = this.data.followers.find((f) => f.threadId === threadId);
        if (!info || info.count === 0) return invalid("config_follower_no_partners");
        return info.senderFollows ? { ok: true } : refuse();
      }
    }
  }

  /** Applies the checks that look at the routes as a whole, then settles the outcome. */
  finish(found: Route[], refused: Refusal[]): Decision {
    const { mail, data } = this;
    const skipped: { route_key: string; why: "duplicate" | "automatic" }[] = [];
    const aliasById = new Map(data.aliases.map((a) => [a.id, a]));
    const routes = found.filter((route) => {
      // RFC 3834: automatic mail must not open a thread on an alias that would answer it
      // (its sender would follow the thread and receive its notifications).
      const opensThread = route.kind === "alias" && route.thread_id === null;
      if (mail.automatic && opensThread && aliasById.get(route.alias_id)?.addSenderAsFollower) {
        skipped.push({ route_key: route.route_key, why: "automatic" });
        return false;
      }
      // Another delivery of the same Message-ID (say, to a Cc'd alias) already took this route.
      if (data.claimedRoutes.includes(route.route_key)) {
        skipped.push({ route_key: route.route_key, why: "duplicate" });
        return false;
      }
      return true;
    });

    if (!routes.length) {
      const refusal = refused.find((r) => "address" in r && r.address === mail.envelope.to) ?? refused[0];
      if (refusal) return { outcome: "refused", ...refusal };
      if (skipped.some((s) => s.why === "automatic")) return { outcome: "dropped", reason: "automatic", marker: mail.automatic! };
      const original = data.priorMessages.find((m) => m.direction === "in" && m.status === "accepted" && m.sender === mail.sender);
      return { outcome: "dropped", reason: "duplicate", duplicate_of: original?.id ?? null, same_delivery: false };
    }

    // Sender loop guard (Odoo's `_detect_loop_sender`): one looping route blocks the whole message.
    const looping = loopRefusal(
      mail,
      data,
      routes.map((r) => r.route_key),
    );
    if (looping) return { outcome: "refused", ...looping };
    return { outcome: "accepted", reason: "routed", routes, refused, skipped };
  }
}

/**
 * Odoo's `is_html_empty`: text with nothing left once the layout tags
 * (p, div, section, span, br, b, i, font) and whitespace are removed is empty.
 */
export function hasRealContent(text: string | null): text is string {
  if (!text) return false;
  return (
    text
      .replace(/<\s*\/?(?:p|div|section|span|br|b|i|font)\b[^>]*>/gi, "")
      .replace(/&nbsp;/g, " ")
      .trim().length > 0
  );
}

/** A reject reason must be one line of printable text (it ends up in an SMTP reply). */
function oneLine(text: string, max = 400): string {
  const flat = text
    .replace(/<[^>]*>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The text the sender's server puts in its bounce, for every kind of refusal. */
export function refusalText(refusal: Refusal): string {
  switch (refusal.reason) {
    case "no_route":
      return `There is no mailbox or alias for ${refusal.recipient} here. Please check the address.`;
    case "catchall_direct":
      return oneLine(
        `The email sent to ${refusal.recipient} cannot be processed. This address is used to collect replies and should not be used to directly contact ${refusal.company}.` +
          (refusal.contact_email ? ` Please contact us instead using ${refusal.contact_email}.` : ""),
      );
    case "contact_policy": {
      if (refusal.custom_text) return oneLine(refusal.custom_text);
      const who = refusal.policy === "known" ? "addresses linked to registered contacts" : "some specific addresses";
      return oneLine(
        `The message could not be accepted by the address ${refusal.address}. Only ${who} are allowed to contact it. ` +
          `Please make sure you are using the correct address or contact us at ${refusal.contact_email ?? refusal.company} instead.`,
      );
    }
    case "alias_invalid":
      return `The message could not be accepted by the address ${refusal.address}. Please try again later or contact ${refusal.company} instead.`;
    case "alias_disabled":
      return `The address ${refusal.address} is disabled and does not accept mail.`;
    case "sender_loop":
      return (
        `The message could not be accepted by the address ${refusal.recipient} because you have contacted it too many times ` +
        `in the last ${refusal.minutes} minutes. Please try again later.`
      );
    case "hop_limit":
      return `Mail loop detected: the message went through ${refusal.received} relays (more than ${MAX_RECEIVED_HEADERS}).`;
    case "too_large":
      return `The message is ${refusal.size} bytes, more than the ${refusal.limit} bytes accepted here.`;
  }
}
