/**
 * Sending through real SMTP servers on loopback (npm smtp-server): plaintext,
 * STARTTLS and implicit TLS with a test CA, and every way SMTP fails.
 */
import { describe, expect, inject, it } from "vitest";
import { api, ok, onlyRelays, runSendJobs, type SmtpTarget, send, sendAndDeliver, setupDomain, smtpReceived, smtpRelay, unique } from "./helpers";

const mail = inject("mail");
/** The test user of the loopback servers (the relays here log in unless told not to). */
const login = { username: mail.smtpUser, password: mail.smtpPassword };

async function smtpOnly(server: SmtpTarget, config: Record<string, unknown> = {}) {
  const [relay] = await onlyRelays([smtpRelay(server, {}, { ...login, ...config })]);
  return relay;
}

describe("SMTP relay", () => {
  for (const server of ["plain", "starttls", "tls"] as const) {
    it(`delivers over ${server}, and the message that arrives is right`, async () => {
      const domain = await setupDomain();
      const [relay] = await onlyRelays([smtpRelay(server, { from_filter: domain }, login)]);
      const rcpt = `${unique("rcpt")}@example.org`;
      const cc = `${unique("cc")}@example.org`;
      const hidden = `${unique("bcc")}@example.org`;
      const { answer, message } = await sendAndDeliver({
        from: `"Mary Major" <mary@${domain}>`,
        to: [`"Rick Receiver" <${rcpt}>`],
        cc: [cc],
        bcc: [hidden],
        subject: "Grüße from the relay, with a subject long enough to need folding over more than one line",
        text: "Hello ☕\n.line starting with a dot\n",
        html: "<p>Hello</p>",
        headers: { "X-Campaign": "spring" },
        attachments: [{ filename: "notes.txt", content: btoa("attached text"), content_type: "text/plain" }],
      });
      expect(answer.relay.id).toBe(relay.id);
      expect(message).toMatchObject({ status: "sent", relay_id: relay.id });
      expect(message.recipients.map((r: any) => [r.address, r.kind, r.status])).toEqual([
        [rcpt, "to", "sent"],
        [cc, "cc", "sent"],
        [hidden, "bcc", "sent"],
      ]);
      expect(message.attempts).toMatchObject([{ relay_id: relay.id, result: "sent", provider_message_id: expect.any(String), envelope_from: answer.envelope_from }]);

      const [received] = await smtpReceived(rcpt);
      expect(received).toMatchObject({ server, secure: server !== "plain", user: "user" });
      expect(received.rcptTo.sort()).toEqual([rcpt, cc, hidden].sort());
      expect(received.mailFrom).toBe(answer.envelope_from);
      const py = received.python;
      expect(py.defects).toEqual([]);
      expect(py.long_lines).toBe(0);
      expect(py.bare_lf).toBe(false);
      expect(py.bcc_header).toBe(false);
      expect(py.subject).toBe("Grüße from the relay, with a subject long enough to need folding over more than one line");
      expect(py.from).toEqual([{ name: "Mary Major", address: `mary@${domain}` }]);
      expect(py.to).toEqual([{ name: "Rick Receiver", address: rcpt }]);
      expect(py.cc).toEqual([{ name: "", address: cc }]);
      expect(py.message_id).toBe(answer.message_id);
      expect(py.headers).toEqual(
        expect.arrayContaining([
          ["X-Mailgate-Message-Id", answer.message_id],
          ["X-Campaign", "spring"],
        ]),
      );
      expect(py.parts.map((p: any) => [p.content_type, p.filename])).toEqual([
        ["text/plain", null],
        ["text/html", null],
        ["text/plain", "notes.txt"],
      ]);
      expect(py.parts[0].text).toBe("Hello ☕\r\n.line starting with a dot\r\n");
      expect(py.parts[2].size).toBe("attached text".length);
    });
  }

  it("keeps one session for several messages to the same relay, and pipelines each in 2 round trips", async () => {
    const domain = await setupDomain();
    await smtpOnly("plain");
    const rcpts = [1, 2, 3].map(() => `${unique("batch")}@example.org`);
    const answers = [];
    for (const rcpt of rcpts) answers.push(await send({ from: `mary@${domain}`, to: [rcpt], subject: "batch", text: "x" }));
    const { acked } = await runSendJobs(answers.map((a) => a.id));
    expect(acked.sort()).toEqual(answers.map((a) => a.id).sort());
    const sessions = new Set<string>();
    for (const rcpt of rcpts) sessions.add((await smtpReceived(rcpt))[0].session);
    expect(sessions.size).toBe(1);
  });

  it("sends without PIPELINING when the server does not offer it", async () => {
    const domain = await setupDomain();
    await smtpOnly("nopipelining");
    const rcpt = `${unique("nopipe")}@example.org`;
    const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt, `${unique("second")}@example.org`], subject: "one by one", text: "x" });
    expect(message.status).toBe("sent");
    expect((await smtpReceived(rcpt))[0].server).toBe("nopipelining");
  });
});

describe("SMTP failures", () => {
  it("refused AUTH is the relay's failure: nothing sent, retried later", async () => {
    const domain = await setupDomain();
    await smtpOnly("starttls", { password: "wrong" });
    const rcpt = `${unique("auth")}@example.org`;
    const answer = await send({ from: `mary@${domain}`, to: [rcpt], subject: "auth", text: "x" });
    const { retried } = await runSendJobs([answer.id]);
    expect(retried.map((r) => r.id)).toEqual([answer.id]);
    const message = await ok("GET", `/v1/messages/${answer.id}`);
    expect(message.status).toBe("queued");
    expect(message.events.at(-1)).toMatchObject({ type: "retry", detail: { retry_in_seconds: 60, pending: [rcpt] } });
    expect(message.attempts).toMatchObject([{ result: "relay_error", error: expect.stringContaining("authentication failed: 535") }]);
    expect(await smtpReceived(rcpt)).toEqual([]);
  });

  it("a 4xx is retried with backoff, and the retry delivers", async () => {
    const domain = await setupDomain();
    await smtpOnly("plain");
    const rcpt = `${unique("flaky")}@example.org`;
    const answer = await send({ from: `mary@${domain}`, to: [rcpt], subject: "greylisted", text: "x" });
    expect((await runSendJobs([answer.id])).retried.map((r) => r.id)).toEqual([answer.id]);
    let message = await ok("GET", `/v1/messages/${answer.id}`);
    expect(message.events.at(-1)).toMatchObject({ type: "retry", detail: { retry_in_seconds: 60 } });
    expect(message).toMatchObject({ status: "queued", recipients: [{ status: "pending", last_code: "451" }] });
    expect(message.attempts[0]).toMatchObject({ result: "deferred", recipients: [{ status: "deferred", code: "451" }] });

    expect((await runSendJobs([answer.id], 2)).acked).toEqual([answer.id]);
    message = await ok("GET", `/v1/messages/${answer.id}`);
    expect(message).toMatchObject({ status: "sent", recipients: [{ status: "sent" }] });
    expect(message.attempts.map((a: any) => a.result)).toEqual(["deferred", "sent"]);
    expect(await smtpReceived(rcpt)).toHaveLength(1);
  });

  it("a 5xx from a recipient is permanent: that recipient fails, the others get the mail, no retry", async () => {
    const domain = await setupDomain();
    await smtpOnly("plain");
    const good = `${unique("good")}@example.org`;
    const bad = `${unique("reject")}@example.org`;
    const answer = await send({ from: `mary@${domain}`, to: [good, bad], subject: "mixed", text: "x" });
    expect((await runSendJobs([answer.id])).acked).toEqual([answer.id]);
    const message = await ok("GET", `/v1/messages/${answer.id}`);
    expect(message.status).toBe("sent");
    expect(message.recipients).toMatchObject([
      { address: good, status: "sent" },
      { address: bad, status: "failed", last_code: "550", last_error: expect.stringContaining("Mailbox does not exist") },
    ]);

    const allBad = await send({ from: `mary@${domain}`, to: [`${unique("reject")}@example.org`], subject: "bad", text: "x" });
    expect((await runSendJobs([allBad.id])).acked).toEqual([allBad.id]);
    expect((await ok("GET", `/v1/messages/${allBad.id}`)).status).toBe("failed");
  });

  it("a server that drops the connection is a relay failure, retried", async () => {
    const domain = await setupDomain();
    await smtpOnly("hangup", { username: undefined, password: undefined });
    const answer = await send({ from: `mary@${domain}`, to: [`${unique("dropped")}@example.org`], subject: "dropped", text: "x" });
    expect((await runSendJobs([answer.id])).retried.map((r) => r.id)).toEqual([answer.id]);
    const message = await ok("GET", `/v1/messages/${answer.id}`);
    expect(message).toMatchObject({ status: "queued", recipients: [{ status: "pending" }] });
    expect(message.attempts).toMatchObject([{ result: "relay_error", error: "the SMTP server closed the connection" }]);
  });

  it("refuses to go on in plaintext when STARTTLS was asked for and is not offered", async () => {
    const domain = await setupDomain();
    await smtpOnly("nostarttls", { security: "starttls" });
    const rcpt = `${unique("nostarttls")}@example.org`;
    const answer = await send({ from: `mary@${domain}`, to: [rcpt], subject: "secret", text: "x" });
    await runSendJobs([answer.id]);
    expect((await ok("GET", `/v1/messages/${answer.id}`)).attempts).toMatchObject([
      { result: "relay_error", error: "the SMTP server does not offer STARTTLS; refusing to continue in plaintext" },
    ]);
    expect(await smtpReceived(rcpt)).toEqual([]);
  });

  it("fails over to the next relay that may send as the same From when the first one fails", async () => {
    const domain = await setupDomain();
    const [broken, working] = await onlyRelays([
      smtpRelay("starttls", { name: "broken", from_filter: domain, sequence: 1 }, { ...login, password: "wrong" }),
      smtpRelay("plain", { name: "working", from_filter: domain, sequence: 2 }, login),
      smtpRelay("plain", { name: "other domain", from_filter: "other.example", sequence: 3 }, login),
    ]);
    const rcpt = `${unique("failover")}@example.org`;
    const { answer, message } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt], subject: "failover", text: "x" });
    expect(answer.relay.id).toBe(broken.id);
    expect(message).toMatchObject({ status: "sent", relay_id: working.id });
    expect(message.attempts.map((a: any) => [a.relay_id, a.result])).toEqual([
      [broken.id, "relay_error"],
      [working.id, "sent"],
    ]);
    expect(await smtpReceived(rcpt)).toHaveLength(1);
  });

  it("refuses port 25 when the relay is saved", async () => {
    const response = await api("POST", "/v1/relays", { name: "p25", type: "smtp", config: { host: "mx.example.org", port: 25, security: "starttls" } });
    expect(response).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining("port 25 is blocked by Cloudflare") } } });
  });

  it("times out on a server that never answers", async () => {
    const domain = await setupDomain();
    await smtpOnly("silent", { username: undefined, password: undefined, timeout_ms: 1000 });
    const answer = await send({ from: `mary@${domain}`, to: [`${unique("silent")}@example.org`], subject: "silence", text: "x" });
    expect((await runSendJobs([answer.id])).retried.map((r) => r.id)).toEqual([answer.id]);
    expect((await ok("GET", `/v1/messages/${answer.id}`)).attempts).toMatchObject([{ result: "relay_error", error: "no reply from the SMTP server within 1000 ms" }]);
  });
});

describe("SMTP extensions", () => {
  it("authenticates with AUTH LOGIN when PLAIN is not offered", async () => {
    const domain = await setupDomain();
    await smtpOnly("loginonly");
    const rcpt = `${unique("login")}@example.org`;
    const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt], subject: "login", text: "x" });
    expect(message.status).toBe("sent");
    expect((await smtpReceived(rcpt))[0]).toMatchObject({ server: "loginonly", user: "user" });
  });

  it("declares SIZE, and does not send what the server's SIZE refuses", async () => {
    const domain = await setupDomain();
    await smtpOnly("small", { username: undefined, password: undefined });
    const fits = `${unique("fits")}@example.org`;
    const fitting = await sendAndDeliver({ from: `mary@${domain}`, to: [fits], subject: "small", text: "x" });
    expect(fitting.message.status).toBe("sent");
    expect((await smtpReceived(fits))[0].mailFromArgs.SIZE).toBe(String(fitting.message.size));
    const tooBig = `${unique("big")}@example.org`;
    const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: [tooBig], subject: "big", text: "x".repeat(8000) });
    expect(message).toMatchObject({ status: "failed", recipients: [{ status: "failed", last_code: "552" }] });
    expect(await smtpReceived(tooBig)).toEqual([]);
  });

  it("uses SMTPUTF8 for an internationalized address", async () => {
    const domain = await setupDomain();
    await smtpOnly("plain");
    const rcpt = `${unique("δοκιμή")}@example.org`;
    const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt], subject: "utf8", text: "x" });
    expect(message.status).toBe("sent");
    const [received] = await smtpReceived(rcpt);
    expect(received.mailFromArgs.SMTPUTF8).toBe(true);
    expect(received.rcptTo).toEqual([rcpt]);
  });
});
