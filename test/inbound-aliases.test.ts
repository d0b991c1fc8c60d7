/**
 * Alias matching through `email()`: Odoo's `message_route` steps 6 to 9
 * (shared/reference/odoo-gateway.md 1.3 and 1.5).
 */
import { describe, expect, it } from "vitest";
import { api, createAlias, deliver, findMessage, messageIdOf, mime, ok, setupDomain, smtpOutcome, unique, withSettings } from "./helpers";

describe("aliases", () => {
  it("accepts mail to an alias, opens a thread and stores the raw message", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: "sales", domain });
    const raw = mime({ From: '"Mary Major" <mary@customer.example>', To: `sales@${domain}`, Subject: "=?utf-8?q?Caf=C3=A9?= order" });
    const result = await deliver({ to: `sales@${domain}`, raw, chunkSize: 7 });
    expect(smtpOutcome(result)).toBe("accepted");

    const message = await findMessage(messageIdOf(raw));
    expect(message).toMatchObject({
      direction: "in",
      status: "accepted",
      subject: "Café order",
      from: { name: "Mary Major", address: "mary@customer.example" },
      rcpt_to: `sales@${domain}`,
      decision: { outcome: "accepted", reason: "routed", routes: [{ kind: "alias", alias_id: alias.id }] },
      has_raw: true,
    });
    expect(message.deliveries).toMatchObject([{ type: "store", status: "delivered" }]);

    const thread = await ok("GET", `/v1/threads/${message.thread_id}`);
    expect(thread).toMatchObject({ subject: "Café order", alias_id: alias.id });
    const threadMessages = await ok("GET", `/v1/threads/${message.thread_id}/messages`);
    expect(threadMessages.items.map((m: any) => m.id)).toEqual([message.id]);

    const download = await api("GET", `/v1/messages/${message.id}/raw`);
    expect(download.status).toBe(200);
    expect(download.headers.get("Content-Type")).toBe("message/rfc822");
    expect(download.body).toBe(raw);
    expect((await ok("GET", `/v1/aliases/${alias.id}`)).status).toBe("valid");
  });

  it("routes an alias named only in Cc (Odoo test_message_process_alias_config_bounced_to)", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: "support", domain });
    const raw = mime({ From: "mary@customer.example", To: "someone@elsewhere.example", Cc: `Support <support@${domain}>` });
    expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw }))).toBe("accepted");
    expect((await findMessage(messageIdOf(raw))).decision.routes).toMatchObject([{ alias_id: alias.id }]);
  });

  it("counts Delivered-To, Resent-To and Resent-Cc as recipients", async () => {
    const domain = await setupDomain();
    const a = await createAlias({ name: "a", domain });
    const b = await createAlias({ name: "b", domain });
    const c = await createAlias({ name: "c", domain });
    const raw = mime({
      From: "mary@customer.example",
      To: "list@elsewhere.example",
      "Delivered-To": `a@${domain}`,
      "Resent-To": `b@${domain}`,
      "Resent-Cc": `C <c@${domain}>`,
    });
    expect(smtpOutcome(await deliver({ to: `a@${domain}`, raw }))).toBe("accepted");
    const routed = (await findMessage(messageIdOf(raw))).decision.routes.map((r: any) => r.alias_id).sort();
    expect(routed).toEqual([a.id, b.id, c.id].sort());
  });

  it("matches addresses case-insensitively", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: "Sales", domain });
    expect(alias.address).toBe(`sales@${domain}`);
    const raw = mime({ From: "mary@customer.example", To: `SALES@${domain.toUpperCase()}` });
    expect(smtpOutcome(await deliver({ to: `SaLeS@${domain}`, raw }))).toBe("accepted");
    expect((await findMessage(messageIdOf(raw))).decision.routes[0].alias_id).toBe(alias.id);
  });

  it("gives every alias among the recipients its own route and thread", async () => {
    const domain = await setupDomain();
    const sales = await createAlias({ name: "sales", domain });
    const support = await createAlias({ name: "support", domain });
    const raw = mime({ From: "mary@customer.example", To: `sales@${domain}, support@${domain}` });
    expect(smtpOutcome(await deliver({ to: `sales@${domain}`, raw }))).toBe("accepted");
    const message = await findMessage(messageIdOf(raw));
    expect(message.decision.routes.map((r: any) => r.alias_id).sort()).toEqual([sales.id, support.id].sort());
    expect(new Set(message.thread_ids).size).toBe(2);
  });

  it("refuses mail nothing routes, naming the address", async () => {
    const domain = await setupDomain();
    const raw = mime({ From: "mary@customer.example", To: `nobody@${domain}` });
    const result = await deliver({ to: `nobody@${domain}`, raw });
    expect(smtpOutcome(result)).toBe("rejected");
    expect(result.rejected).toContain(`nobody@${domain}`);
    const message = await findMessage(messageIdOf(raw));
    expect(message).toMatchObject({ status: "refused", has_raw: false, decision: { outcome: "refused", reason: "no_route" } });
  });

  it("refuses mail to a disabled alias", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "old", domain, enabled: false });
    const raw = mime({ From: "mary@customer.example", To: `old@${domain}` });
    const result = await deliver({ to: `old@${domain}`, raw });
    expect(result.rejected).toBe(`The address old@${domain} is disabled and does not accept mail.`);
    expect((await findMessage(messageIdOf(raw))).decision.reason).toBe("alias_disabled");
  });
});

describe("local-part aliases (alias_incoming_local)", () => {
  it("match their local part on any domain when no allowed domains are set", async () => {
    const domain = await setupDomain();
    const name = unique("lp");
    const alias = await createAlias({ name, domain, local_part_only: true });
    const raw = mime({ From: "mary@customer.example", To: `${name}@other-domain.example` });
    expect(smtpOutcome(await deliver({ to: `${name}@other-domain.example`, raw }))).toBe("accepted");
    expect((await findMessage(messageIdOf(raw))).decision.routes[0].alias_id).toBe(alias.id);
  });

  it("match only allowed domains (plus our own) when allowed domains are set", async () => {
    const domain = await setupDomain();
    const name = unique("lp");
    const alias = await createAlias({ name, domain: null, local_part_only: true });
    expect(alias.address).toBe(name);
    await withSettings({ allowed_domains: ["allowed.example"] }, async () => {
      const allowed = mime({ From: "mary@customer.example", To: `${name}@allowed.example` });
      expect(smtpOutcome(await deliver({ to: `${name}@allowed.example`, raw: allowed }))).toBe("accepted");
      const ours = mime({ From: "mary@customer.example", To: `${name}@${domain}` });
      expect(smtpOutcome(await deliver({ to: `${name}@${domain}`, raw: ours }))).toBe("accepted");
      const other = mime({ From: "mary@customer.example", To: `${name}@not-allowed.example` });
      const refused = await deliver({ to: `${name}@not-allowed.example`, raw: other });
      expect(smtpOutcome(refused)).toBe("rejected");
      expect((await findMessage(messageIdOf(other))).decision.reason).toBe("no_route");
    });
  });

  it("an alias without local-part matching ignores other domains", async () => {
    const domain = await setupDomain();
    const name = unique("fa");
    await createAlias({ name, domain });
    const raw = mime({ From: "mary@customer.example", To: `${name}@other-domain.example` });
    expect(smtpOutcome(await deliver({ to: `${name}@other-domain.example`, raw }))).toBe("rejected");
  });
});

describe("catchall", () => {
  it("refuses mail written only to the catchall, with Odoo's explanation", async () => {
    const domain = await setupDomain({ company_name: "Acme Corp", contact_email: "hello@acme.example" });
    const raw = mime({ From: "mary@customer.example", To: `catchall@${domain}` });
    const result = await deliver({ to: `catchall@${domain}`, raw });
    expect(result.rejected).toBe(
      `The email sent to catchall@${domain} cannot be processed. This address is used to collect replies and should not be used to directly contact Acme Corp. Please contact us instead using hello@acme.example.`,
    );
    expect((await findMessage(messageIdOf(raw))).decision).toMatchObject({ outcome: "refused", reason: "catchall_direct" });
  });

  it("routes the alias when the catchall is written to beside it", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: "sales", domain });
    const raw = mime({ From: "mary@customer.example", To: `catchall@${domain}, sales@${domain}` });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw }))).toBe("accepted");
    expect((await findMessage(messageIdOf(raw))).decision.routes[0].alias_id).toBe(alias.id);
  });

  it("refuses the catchall beside an address nothing routes", async () => {
    const domain = await setupDomain();
    const raw = mime({ From: "mary@customer.example", To: `catchall@${domain}, nobody@${domain}` });
    const result = await deliver({ to: `nobody@${domain}`, raw });
    expect(smtpOutcome(result)).toBe("rejected");
    expect((await findMessage(messageIdOf(raw))).decision.reason).toBe("catchall_direct");
  });

  it("uses the domain's own catchall local part", async () => {
    const domain = await setupDomain({ catchall: "replies" });
    const raw = mime({ From: "mary@customer.example", To: `replies@${domain}` });
    expect((await deliver({ to: `replies@${domain}`, raw })).rejected).toContain("used to collect replies");
  });
});
