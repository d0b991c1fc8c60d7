/**
 * Duplicates and destinations: the same Message-ID delivered again (a
 * retry, or another of our recipients), forwards that fail and are retried,
 * and bounces, which never open a thread.
 */
import { describe, expect, inject, it } from "vitest";
import { api, createAlias, deliver, findMessage, messageIdOf, messagesFor, mime, ok, setupDomain, smtpOutcome, unique } from "./helpers";

describe("duplicates", () => {
  it("drop the same delivery seen twice without routing it again", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "sales", domain });
    const raw = mime({ From: "mary@customer.example", To: `sales@${domain}` });
    expect(smtpOutcome(await deliver({ to: `sales@${domain}`, raw }))).toBe("accepted");
    expect(smtpOutcome(await deliver({ to: `sales@${domain}`, raw }))).toBe("accepted");
    const rows = await messagesFor(messageIdOf(raw));
    expect(rows).toHaveLength(1);
    const message = await findMessage(messageIdOf(raw));
    expect(message.events.map((e: any) => e.type)).toEqual(["accepted", "redelivered"]);
    expect((await ok("GET", `/v1/threads?alias_id=${message.decision.routes[0].alias_id}`)).items).toHaveLength(1);
  });

  it("route a message to several of our addresses once, whichever delivery comes first", async () => {
    const domain = await setupDomain();
    const sales = await createAlias({ name: "sales", domain });
    const support = await createAlias({ name: "support", domain });
    const raw = mime({ From: "mary@customer.example", To: `sales@${domain}`, Cc: `support@${domain}` });
    expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw }))).toBe("accepted");
    expect(smtpOutcome(await deliver({ to: `sales@${domain}`, raw }))).toBe("accepted");
    const [second, first] = await messagesFor(messageIdOf(raw));
    expect(first.decision.routes.map((r: any) => r.alias_id).sort()).toEqual([sales.id, support.id].sort());
    expect(second).toMatchObject({ status: "dropped", decision: { reason: "duplicate", duplicate_of: first.id }, thread_ids: [] });
  });

  it("route a Bcc'd alias that the headers do not name", async () => {
    const domain = await setupDomain();
    const sales = await createAlias({ name: "sales", domain });
    const archive = await createAlias({ name: "archive", domain });
    const raw = mime({ From: "mary@customer.example", To: `sales@${domain}` });
    expect(smtpOutcome(await deliver({ to: `sales@${domain}`, raw }))).toBe("accepted");
    expect(smtpOutcome(await deliver({ to: `archive@${domain}`, raw }))).toBe("accepted");
    const [bcc, first] = await messagesFor(messageIdOf(raw));
    expect(first.decision.routes).toMatchObject([{ alias_id: sales.id }]);
    expect(bcc.decision).toMatchObject({ outcome: "accepted", routes: [{ alias_id: archive.id }], skipped: [{ route_key: `alias:${sales.id}`, why: "duplicate" }] });
  });

  it("get a stable id when the Message-ID is missing, so a retry is still a duplicate", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "sales", domain });
    const raw = mime({ "Message-ID": null, From: "mary@customer.example", To: `sales@${domain}`, Subject: "No id" });
    await deliver({ to: `sales@${domain}`, raw });
    await deliver({ to: `sales@${domain}`, raw });
    const list = await ok("GET", `/v1/messages?limit=200`);
    const mine = list.items.filter((m: any) => m.rcpt_to === `sales@${domain}`);
    expect(mine).toHaveLength(1);
    expect(mine[0].message_id).toMatch(/^<[0-9a-f]{32}@no-message-id\.mailgate\.invalid>$/);
  });
});

describe("forward destinations", () => {
  it("forward with a trace header, after storing", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "info", domain, destinations: [{ type: "store" }, { type: "forward", to: "Owner@Mailbox.example" }] });
    const raw = mime({ From: "mary@customer.example", To: `info@${domain}` });
    const result = await deliver({ to: `info@${domain}`, raw });
    expect(smtpOutcome(result)).toBe("accepted");
    const message = await findMessage(messageIdOf(raw));
    expect(result.forwards).toEqual([
      {
        to: "owner@mailbox.example",
        headers: { "x-mailgate-trace": `message=${message.id}; thread=${message.thread_id}; alias=${message.decision.routes[0].alias_id}` },
      },
    ]);
    expect(message.events.map((e: any) => e.type)).toEqual(["accepted", "forwarded"]);
  });

  it("a failed forward makes the sender retry, and the retry forwards only what failed", async () => {
    const domain = await setupDomain();
    const destinations = [{ type: "store" }, { type: "forward", to: "a@mailbox.example" }, { type: "forward", to: "b@mailbox.example" }];
    await createAlias({ name: "team", domain, destinations });
    const raw = mime({ From: "mary@customer.example", To: `team@${domain}` });

    const first = await deliver({ to: `team@${domain}`, raw, failForwardTo: ["a@mailbox.example"] });
    expect(smtpOutcome(first)).toBe("temporary_failure");
    expect(String(first.error)).toContain("forward to a@mailbox.example failed");
    expect(first.forwards.map((f) => f.to)).toEqual(["b@mailbox.example"]);
    let message = await findMessage(messageIdOf(raw));
    expect(message.status).toBe("accepted");
    const byTarget = (m: any) => Object.fromEntries(m.deliveries.map((d: any) => [d.target ?? d.type, [d.status, d.attempts]]));
    expect(byTarget(message)).toEqual({ store: ["delivered", 0], "a@mailbox.example": ["pending", 1], "b@mailbox.example": ["delivered", 1] });

    const retry = await deliver({ to: `team@${domain}`, raw });
    expect(smtpOutcome(retry)).toBe("accepted");
    expect(retry.forwards.map((f) => f.to)).toEqual(["a@mailbox.example"]);
    message = await findMessage(messageIdOf(raw));
    expect(byTarget(message)).toEqual({ store: ["delivered", 0], "a@mailbox.example": ["delivered", 2], "b@mailbox.example": ["delivered", 1] });
    expect(await messagesFor(messageIdOf(raw))).toHaveLength(1);

    // A third delivery has nothing left to do.
    const third = await deliver({ to: `team@${domain}`, raw });
    expect(third.forwards).toEqual([]);
  });

  it("give a forward up after 5 attempts, keeping the stored copy", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "team", domain, destinations: [{ type: "store" }, { type: "forward", to: "gone@mailbox.example" }] });
    const raw = mime({ From: "mary@customer.example", To: `team@${domain}` });
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(smtpOutcome(await deliver({ to: `team@${domain}`, raw, failForwardTo: ["gone@mailbox.example"] })));
    expect(outcomes).toEqual(["temporary_failure", "temporary_failure", "temporary_failure", "temporary_failure", "accepted"]);
    const message = await findMessage(messageIdOf(raw));
    expect(message.deliveries.find((d: any) => d.type === "forward")).toMatchObject({ status: "failed", attempts: 5, last_error: "destination gone@mailbox.example unavailable" });
    expect(message.has_raw).toBe(true);
  });

  it("does not retry what Cloudflare cannot forward (no SPF or DKIM pass)", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "team", domain, destinations: [{ type: "store" }, { type: "forward", to: "owner@mailbox.example" }] });
    const raw = mime({ From: "spoofer@customer.example", To: `team@${domain}` });
    const result = await deliver({ to: `team@${domain}`, raw, canBeForwarded: false });
    expect(smtpOutcome(result)).toBe("accepted");
    expect(result.forwards).toEqual([]);
    const message = await findMessage(messageIdOf(raw));
    expect(message.deliveries.find((d: any) => d.type === "forward")).toMatchObject({ status: "failed", attempts: 1 });
  });

  it("record webhook destinations as pending", async () => {
    const domain = await setupDomain();
    // A receiver on loopback that nobody configured (tests never post to the internet).
    const url = `${inject("mail").control}/hooks/${unique("nobody")}`;
    await createAlias({ name: "hook", domain, destinations: [{ type: "webhook", url }] });
    const raw = mime({ From: "mary@customer.example", To: `hook@${domain}` });
    expect(smtpOutcome(await deliver({ to: `hook@${domain}`, raw }))).toBe("accepted");
    expect((await findMessage(messageIdOf(raw))).deliveries).toMatchObject([{ type: "webhook", target: url, status: "pending" }]);
  });
});

describe("bounces", () => {
  const cases: [string, (domain: string) => { to: string; headers: Record<string, string> }][] = [
    ["bounce_address", (d) => ({ to: `bounce@${d}`, headers: { From: "postmaster@remote.example", To: `bounce@${d}` } })],
    ["verp", (d) => ({ to: `bounce+abc123@${d}`, headers: { From: "postmaster@remote.example", To: `bounce+abc123@${d}` } })],
    ["mailer_daemon", (d) => ({ to: `sales@${d}`, headers: { From: "Mail Delivery System <MAILER-DAEMON@remote.example>", To: `sales@${d}` } })],
    [
      "report",
      (d) => ({
        to: `sales@${d}`,
        headers: { From: "postmaster@remote.example", To: `sales@${d}`, "Content-Type": 'multipart/report; report-type=delivery-status; boundary="b"' },
      }),
    ],
  ];
  for (const [signal, build] of cases) {
    it(`are recognised (${signal}), stored, and never open a thread`, async () => {
      const domain = await setupDomain();
      await createAlias({ name: "sales", domain });
      const { to, headers } = build(domain);
      const raw = mime(headers, "--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed\r\n--b--\r\n");
      expect(smtpOutcome(await deliver({ to, raw, from: "" }))).toBe("accepted");
      const message = await findMessage(messageIdOf(raw));
      expect(message).toMatchObject({ status: "accepted", thread_ids: [], has_raw: true, decision: { outcome: "accepted", reason: "bounce", signal } });
      // It names no recipient and no message of ours: read, and nothing changes.
      expect(message.decision.bounce).toMatchObject({ original_id: null, effects: { bounced: [], counted: [], suppressed: [] } });
    });
  }
});

describe("huge and malformed mail", () => {
  it("a 25 MiB message is routed from its header, stored whole and downloadable", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "files", domain });
    const header = mime({ From: "mary@customer.example", To: `files@${domain}`, "Content-Type": "application/octet-stream" }, "");
    const size = 25 * 1024 * 1024;
    const raw = new Uint8Array(size);
    raw.set(new TextEncoder().encode(header));
    raw.fill(0x41, header.length);
    expect(smtpOutcome(await deliver({ to: `files@${domain}`, raw, chunkSize: 64 * 1024 }))).toBe("accepted");
    const message = await findMessage(messageIdOf(header));
    expect(message).toMatchObject({ size, has_raw: true });
    const download = await api("GET", `/v1/messages/${message.id}/raw`);
    expect(download.headers.get("Content-Length")).toBe(String(size));
  });

  it("a header block that never ends, or no header at all, still gets a definite outcome", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "files", domain });
    const endless = `From: mary@customer.example\r\nTo: files@${domain}\r\n${"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(20_000)}`;
    expect(smtpOutcome(await deliver({ to: `files@${domain}`, raw: endless, chunkSize: 1000 }))).toBe("accepted");
    expect(smtpOutcome(await deliver({ to: `files@${domain}`, raw: "" }))).toBe("accepted");
    expect(smtpOutcome(await deliver({ to: `files@${domain}`, raw: "\r\n\r\nbody only" }))).toBe("accepted");
    expect(smtpOutcome(await deliver({ to: `nobody@${domain}`, raw: "garbage without any structure" }))).toBe("rejected");
  });
});
