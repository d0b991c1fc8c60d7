/** Contact policies of aliases (Odoo's `alias_contact` and `_alias_get_error`). */
import { describe, expect, it } from "vitest";
import { createAlias, deliver, findMessage, messageIdOf, mime, ok, setupDomain, smtpOutcome, unique } from "./helpers";

describe("contact policy", () => {
  it("everyone: any sender gets through", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "open", domain, contact: "everyone" });
    const raw = mime({ From: `${unique("x")}@anywhere.example`, To: `open@${domain}` });
    expect(smtpOutcome(await deliver({ to: `open@${domain}`, raw }))).toBe("accepted");
  });

  it("known: contacts get through, strangers get Odoo's default text", async () => {
    const domain = await setupDomain({ company_name: "Acme", contact_email: "hello@acme.example" });
    await createAlias({ name: "partners", domain, contact: "known" });
    const known = `${unique("k")}@customer.example`;
    await ok("POST", "/v1/contacts", { email: `"Known" <${known.toUpperCase()}>` }, 201);

    const fromKnown = mime({ From: `Known <${known}>`, To: `partners@${domain}` });
    expect(smtpOutcome(await deliver({ to: `partners@${domain}`, raw: fromKnown }))).toBe("accepted");

    const stranger = mime({ From: "stranger@elsewhere.example", To: `partners@${domain}` });
    const refused = await deliver({ to: `partners@${domain}`, raw: stranger });
    expect(refused.rejected).toBe(
      `The message could not be accepted by the address partners@${domain}. Only addresses linked to registered contacts are allowed to contact it. ` +
        "Please make sure you are using the correct address or contact us at hello@acme.example instead.",
    );
    expect((await findMessage(messageIdOf(stranger))).decision).toMatchObject({ outcome: "refused", reason: "contact_policy", policy: "known" });
  });

  it("uses the alias's refusal text when it has real content, Odoo's otherwise", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "vip", domain, contact: "known", refusal_text: "<p>Only   our\nclients may write here.</p>" });
    await createAlias({ name: "vip2", domain, contact: "known", refusal_text: "<p><br/></p>" });
    const first = await deliver({ to: `vip@${domain}`, raw: mime({ From: "stranger@elsewhere.example", To: `vip@${domain}` }) });
    expect(first.rejected).toBe("Only our clients may write here.");
    const second = await deliver({ to: `vip2@${domain}`, raw: mime({ From: "stranger@elsewhere.example", To: `vip2@${domain}` }) });
    expect(second.rejected).toContain("Only addresses linked to registered contacts are allowed");
  });

  it("followers: only followers of the pinned thread get through", async () => {
    const domain = await setupDomain();
    const thread = await ok("POST", "/v1/threads", { subject: "Board", followers: [{ email: "member@club.example", name: "Member" }] }, 201);
    const alias = await createAlias({ name: "board", domain, contact: "followers", thread_id: thread.id });

    const member = mime({ From: "Member <MEMBER@club.example>", To: `board@${domain}` });
    expect(smtpOutcome(await deliver({ to: `board@${domain}`, raw: member }))).toBe("accepted");
    expect((await findMessage(messageIdOf(member))).decision.routes).toEqual([{ kind: "alias", route_key: `thread:${thread.id}`, alias_id: alias.id, thread_id: thread.id }]);

    const outsider = mime({ From: "outsider@elsewhere.example", To: `board@${domain}` });
    const refused = await deliver({ to: `board@${domain}`, raw: outsider });
    expect(refused.rejected).toContain("Only some specific addresses are allowed to contact it");
    expect((await ok("GET", `/v1/aliases/${alias.id}`)).status).toBe("valid");
  });

  it("followers without a pinned thread: the alias is marked invalid and mail refused", async () => {
    const domain = await setupDomain({ company_name: "Acme" });
    const alias = await createAlias({ name: "club", domain, contact: "followers" });
    const raw = mime({ From: "member@club.example", To: `club@${domain}` });
    const result = await deliver({ to: `club@${domain}`, raw });
    expect(result.rejected).toBe(`The message could not be accepted by the address club@${domain}. Please try again later or contact Acme instead.`);
    expect((await findMessage(messageIdOf(raw))).decision).toMatchObject({ reason: "alias_invalid", error: "config_follower_no_record" });
    expect((await ok("GET", `/v1/aliases/${alias.id}`)).status).toBe("invalid");
  });

  it("followers of a thread nobody follows: the alias is marked invalid", async () => {
    const domain = await setupDomain();
    const thread = await ok("POST", "/v1/threads", { subject: "Empty" }, 201);
    const alias = await createAlias({ name: "empty", domain, contact: "followers", thread_id: thread.id });
    const raw = mime({ From: "member@club.example", To: `empty@${domain}` });
    expect(smtpOutcome(await deliver({ to: `empty@${domain}`, raw }))).toBe("rejected");
    expect((await findMessage(messageIdOf(raw))).decision.error).toBe("config_follower_no_partners");
    expect((await ok("GET", `/v1/aliases/${alias.id}`)).status).toBe("invalid");
    // Changing what decides routing puts the alias back to "not tested", as in Odoo.
    expect((await ok("PATCH", `/v1/aliases/${alias.id}`, { contact: "everyone" })).status).toBe("not_tested");
  });

  it("a refused alias does not block another alias of the same message", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "closed", domain, contact: "known" });
    const open = await createAlias({ name: "open", domain });
    const raw = mime({ From: "stranger@elsewhere.example", To: `closed@${domain}, open@${domain}` });
    expect(smtpOutcome(await deliver({ to: `open@${domain}`, raw }))).toBe("accepted");
    const message = await findMessage(messageIdOf(raw));
    expect(message.decision.routes).toMatchObject([{ alias_id: open.id }]);
    expect(message.decision.refused).toMatchObject([{ reason: "contact_policy", address: `closed@${domain}` }]);
    // The delivery to the closed alias itself is refused, so the sender hears about it.
    const second = await deliver({ to: `closed@${domain}`, raw });
    expect(smtpOutcome(second)).toBe("rejected");
  });

  it("applies to replies addressed to the thread's own alias", async () => {
    const domain = await setupDomain();
    const thread = await ok("POST", "/v1/threads", { subject: "Board", followers: [{ email: "member@club.example" }] }, 201);
    const board = await createAlias({ name: "board", domain, contact: "followers", thread_id: thread.id });
    const first = mime({ From: "member@club.example", To: `board@${domain}` });
    expect(smtpOutcome(await deliver({ to: `board@${domain}`, raw: first }))).toBe("accepted");
    const memberReply = mime({ From: "member@club.example", To: `board@${domain}`, "In-Reply-To": messageIdOf(first) });
    expect(smtpOutcome(await deliver({ to: `board@${domain}`, raw: memberReply }))).toBe("accepted");
    expect((await findMessage(messageIdOf(memberReply))).decision.routes).toEqual([{ kind: "thread", route_key: `thread:${thread.id}`, thread_id: thread.id, alias_id: board.id }]);
    const reply = mime({ From: "outsider@elsewhere.example", To: `board@${domain}`, "In-Reply-To": messageIdOf(first) });
    expect(smtpOutcome(await deliver({ to: `board@${domain}`, raw: reply }))).toBe("rejected");
    // The same reply through the catchall does not name the alias: no policy applies (Odoo step 5).
    const viaCatchall = mime({ From: "outsider@elsewhere.example", To: `catchall@${domain}`, "In-Reply-To": messageIdOf(first) });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw: viaCatchall }))).toBe("accepted");
  });
});
