/**
 * A relay's test message (POST /v1/relays/{id}/test-message): who it is
 * from, what it says, and what the relay's answer means. Pure: the API
 * looks up the relay, the domains and the suppressions, sends, and asks
 * these.
 *
 * The From is one the relay may send as, by the rules real mail follows
 * (src/outbound/rewrite-from.ts, src/outbound/select-relay.ts): its
 * `fixed_sender`; else the notifications address (Odoo's
 * `default_from_email`) of the first domain whose address its `from_filter`
 * allows (no filter allows every domain), which is the address mailgate
 * itself sends follower notifications as; else the first full address in
 * its `from_filter` (Odoo's `_get_test_email_from`). The envelope is that
 * From: the message is not recorded, so there is no VERP address naming it.
 */
import { domainOf, normalizeAddress } from "../../mail/address";
import { toHex } from "../../mail/bytes";
import type { Mailbox } from "../../model";
import { compose } from "../compose";
import { notificationsAddress, type PlanDomain } from "../plan";
import { planSender, type SenderPlan } from "../rewrite-from";
import { filterParts, matchFromFilter } from "../select-relay";
import { envelopeIsFrom, fixedSenderOf, type RelayRow } from "./settings";
import type { SendOutcome } from "./types";

/** Why the From is what it is. */
export type TestSenderSource = "fixed_sender" | "notifications" | "from_filter";

export type TestSender = { ok: true; sender: SenderPlan; source: TestSenderSource } | { ok: false; reason: string };

type TestRelay = Pick<RelayRow, "name" | "type" | "config" | "fromFilter">;

/** The display name of a test message's From. */
const TEST_NAME = "mailgate";

/** The From and envelope of a test message through `relay`, or why no address fits (`domains` in their planning order). */
export function testSender(relay: TestRelay, domains: Pick<PlanDomain, "name" | "defaultFrom">[]): TestSender {
  const fixedSender = fixedSenderOf(relay);
  const rules = { fromFilter: relay.fromFilter, fixedSender, envelopeIsFrom: envelopeIsFrom(relay) };
  const plan = (address: string, source: TestSenderSource): TestSender => {
    const author: Mailbox = { name: TEST_NAME, address };
    const sender = planSender({ author, smtpFrom: address, relay: rules, notificationsEmail: null, bounceAddress: null, replyTo: null, threadReplyTo: null });
    // The fixed sender puts the author in Reply-To: here the author is that very address.
    const replyTo = sender.replyTo && normalizeAddress(sender.replyTo.address) === normalizeAddress(sender.from.address) ? null : sender.replyTo;
    return { ok: true, sender: { ...sender, replyTo }, source };
  };
  if (fixedSender) return plan(fixedSender, "fixed_sender");
  const notifications = domains.map(notificationsAddress).find((address) => matchFromFilter(address, relay.fromFilter));
  if (notifications) return plan(notifications, "notifications");
  const filterAddress = filterParts(relay.fromFilter ?? "").find((part) => part.includes("@"));
  if (filterAddress) return plan(filterAddress, "from_filter");
  const known = domains.map(notificationsAddress);
  return {
    ok: false,
    reason: relay.fromFilter
      ? `relay "${relay.name}" may send as no address mailgate sends as: its from_filter (${relay.fromFilter}) allows none of the domains' notifications addresses (${known.join(", ") || "there is no domain"}); set its fixed_sender, or add an address or domain to its from_filter`
      : `relay "${relay.name}" has no from_filter and no fixed_sender, and there is no domain whose notifications address it could send as: add a domain (PUT /v1/domains/{name}) or set its fixed_sender`,
  };
}

/** A test message's Message-ID: on the From's domain, random, and unlike our stored messages' (`<msg_…@…>`), since none is stored. */
export function testMessageId(from: string, random: Uint8Array): string {
  return `<test.${toHex(random)}@${domainOf(from).toLowerCase()}>`;
}

/** The test message as MIME (CRLF line ends): short, plain text, and marked as automatic (RFC 3834) so no auto-reply answers it. */
export function composeTestMessage(input: { relay: TestRelay; sender: SenderPlan; to: Mailbox; messageId: string; date: Date; disabled: boolean }): Uint8Array {
  const { relay, sender, to } = input;
  const text = [
    "Hello,",
    "",
    `this is a test message from mailgate, sent through the relay "${relay.name}" (${relay.type}) as ${sender.from.address}.`,
    "If you read it, the relay delivers mail. Nothing needs to be done.",
    ...(input.disabled ? ["", "(The relay is disabled: mailgate sends nothing else through it until it is enabled.)"] : []),
    "",
    "-- ",
    "mailgate",
  ].join("\n");
  return new TextEncoder().encode(
    compose({
      from: sender.from,
      replyTo: sender.replyTo,
      to: [to],
      cc: [],
      subject: `mailgate test message through ${relay.name}`,
      text,
      html: null,
      attachments: [],
      headers: { "Auto-Submitted": "auto-generated" },
      messageId: input.messageId,
      inReplyTo: null,
      references: [],
      date: input.date,
    }),
  );
}

export type TestOutcome = { ok: true; answer: string; providerMessageId: string | null } | { ok: false; error: string; code: string | null };

/**
 * What the relay's answer to the test message means: the recipient taken
 * (an SMTP server's reply to the end of DATA, `250 2.0.0 Ok: queued as …`;
 * a provider's status and message id), refused (its words), or the relay
 * itself failing (connection, TLS, login, the provider's own refusal).
 */
export function testOutcome(outcome: SendOutcome): TestOutcome {
  if (outcome.kind === "relay_error") return { ok: false, error: outcome.message, code: outcome.code };
  const [result] = outcome.recipients;
  const providerMessageId = result?.providerMessageId ?? outcome.providerMessageId;
  if (!result) return { ok: false, error: "the relay answered nothing about the recipient", code: null };
  const said = [result.code, result.message].filter(Boolean).join(" ");
  if (result.status !== "sent") {
    const when = result.status === "deferred" ? "for now (a temporary refusal)" : "";
    return { ok: false, error: `the relay refused ${result.address}${when ? ` ${when}` : ""}: ${said || "no reason given"}`, code: result.code };
  }
  // An SMTP reply names its queue id itself; a provider's id is said apart.
  const id = providerMessageId && !said.includes(providerMessageId) ? `message id ${providerMessageId}` : "";
  const status = result.message ? said : result.code ? `accepted (HTTP ${result.code})` : "accepted";
  return { ok: true, answer: [status, id].filter(Boolean).join(", "), providerMessageId };
}
