/**
 * Smoke test of the real Postfix on loopback (test/node/postfix.ts): mailgate's
 * SMTP client hands a message to Postfix, which delivers it into its Maildir.
 */
import { describe, expect, inject, it } from "vitest";
import { headerValues, onlyRelays, postfixDelivered, sendAndDeliver, setupDomain, smtpRelay, unique } from "./helpers";

const postfix = inject("postfix");

async function allDelivered(): Promise<any[]> {
  return (await fetch(`${postfix.control}/delivered?all`)).json();
}

describe("Postfix on loopback", () => {
  for (const [service, security] of [
    ["plain", "none"],
    ["starttls", "starttls"],
  ] as const) {
    it(`takes a message from mailgate over ${service} (security ${security}) and delivers it to exactly the envelope recipients`, async () => {
      const domain = await setupDomain();
      const [relay] = await onlyRelays([smtpRelay(`postfix:${service}`, { from_filter: domain })]);
      const rcpt = `${unique("to")}@example.org`;
      const cc = `${unique("cc")}@example.net`;
      const hidden = `${unique("bcc")}@example.com`;
      const { answer, message } = await sendAndDeliver({
        from: `"Mary Major" <mary@${domain}>`,
        to: [rcpt],
        cc: [cc],
        bcc: [hidden],
        subject: `Postfix smoke over ${service}`,
        text: "Hello Postfix\n",
      });
      expect(message).toMatchObject({ status: "sent", relay_id: relay.id });

      for (const address of [rcpt, cc, hidden]) {
        const [copy, ...more] = await postfixDelivered(address);
        expect(more).toEqual([]);
        expect(headerValues(copy, "X-Original-To")).toEqual([address]);
        expect(headerValues(copy, "Delivered-To")).toEqual([address]);
        expect(headerValues(copy, "Return-Path")).toEqual([`<${answer.envelope_from}>`]);
        expect(headerValues(copy, "Received")[0]).toMatch(service === "starttls" ? /with ESMTPS id/ : /with ESMTP id/);
        expect(copy.python).toMatchObject({
          defects: [],
          subject: `Postfix smoke over ${service}`,
          from: [{ name: "Mary Major", address: `mary@${domain}` }],
          to: [{ name: "", address: rcpt }],
          cc: [{ name: "", address: cc }],
          bcc_header: false,
          message_id: answer.message_id,
        });
      }
      // Nobody else got this message.
      const copies = (await allDelivered()).filter((m) => headerValues(m, "Message-ID").includes(answer.message_id));
      expect(copies.map((m) => headerValues(m, "X-Original-To")[0]).sort()).toEqual([rcpt, cc, hidden].sort());
    });
  }
});
