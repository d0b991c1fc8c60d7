/**
 * A small SMTP client over `cloudflare:sockets` (RFC 5321), written here
 * because worker-mailer (the one Workers SMTP library) continues in
 * plaintext when STARTTLS is missing, ignores its response timeout option,
 * sends a bare IP as EHLO name and has no PIPELINING or multi-message
 * sessions. This one:
 *
 * - implicit TLS (465) or STARTTLS (587, 2525) that refuses to go on in
 *   plaintext when STARTTLS was asked for; plaintext only when configured;
 * - EHLO with a proper name, AUTH PLAIN or LOGIN (never in plaintext unless
 *   configured so), or XOAUTH2 with an OAuth access token (Gmail, Microsoft
 *   365), SIZE, SMTPUTF8 and 8BITMIME when the message needs them;
 * - PIPELINING (RFC 2920) when offered: MAIL, every RCPT and DATA in one
 *   round trip, the body in a second; several messages per session;
 * - dot-stuffing, a timeout on every reply, QUIT;
 * - port 25 refused (Cloudflare blocks it);
 * - a TLS failure named (untrusted issuer, name mismatch, expired, handshake
 *   failure, plaintext port...) by src/outbound/relays/tls-diagnosis.ts, since
 *   the platform's own error says only "internal error".
 */
import { connect } from "cloudflare:sockets";
import { fromBase64, toBase64 } from "../../mail/bytes";
import { xoauth2 } from "../../oauth";
import { dotStuff, hasEightBitHeader, isAscii, type Reply, ReplyReader, resultOf, within } from "./smtp-protocol";
import { diagnoseTls } from "./tls-diagnosis";
import { allRecipients, type RecipientResult, RelayError, type SendOutcome } from "./types";

export type SmtpSecurity = "tls" | "starttls" | "none";

/** Where XOAUTH2's access tokens come from (src/oauth.ts behind it: the client itself knows no database). */
export interface SmtpOAuth {
  /**
   * An access token, and whether it came from the cache; `renew`: the
   * server refused the last one, so not that one again. Throws a RelayError
   * when there is none to be had (the provider refused the refresh token,
   * or did not answer).
   */
  token(renew: boolean): Promise<{ token: string; cached: boolean }>;
}

export interface SmtpOptions {
  host: string;
  port: number;
  security: SmtpSecurity;
  username?: string;
  password?: string;
  /** Log in as `username` with SASL XOAUTH2 instead of a password. */
  oauth?: SmtpOAuth;
  /** The EHLO name: a fully qualified domain name of ours. */
  helo: string;
  /** How long to wait for any one reply (the end of DATA gets four times this). */
  timeoutMs?: number;
  /**
   * When given, the session is written down here line by line: `C:` what
   * we said (credentials hidden), `S:` what the server answered (a relay
   * test shows it; sending leaves it out).
   */
  transcript?: string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;
const encoder = new TextEncoder();

/**
 * One session: `connect()` reads the greeting, says EHLO, starts TLS and
 * authenticates; `send()` runs one transaction and may be called again for
 * the next message; `quit()` ends it. A failing server (refusals, timeouts,
 * a closed connection) is a RelayError, so the dispatcher can fail over.
 */
export class SmtpClient {
  /** Replies waited for in one go: the number a latency-bound link pays for. */
  roundTrips = 0;
  /** True from the moment TLS is asked for until the server has answered through it. */
  private tlsPending = false;
  private extensions = new Map<string, string>();
  private reader!: ReplyReader;
  private writer!: WritableStreamDefaultWriter<Uint8Array>;
  readonly timeoutMs: number;

  private constructor(
    private socket: Socket,
    private readonly options: SmtpOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.attach();
  }

  /** Connects, reads the greeting, says EHLO, upgrades to TLS and authenticates as configured. */
  static async connect(options: SmtpOptions): Promise<SmtpClient> {
    if (options.port === 25) throw new RelayError("port 25 is blocked by Cloudflare for outbound connections; use 465 (TLS) or 587 (STARTTLS)", "config");
    const secureTransport = options.security === "tls" ? "on" : options.security === "starttls" ? "starttls" : "off";
    let socket: Socket;
    try {
      socket = connect({ hostname: options.host, port: options.port }, { secureTransport, allowHalfOpen: false });
    } catch (error) {
      throw new RelayError(`cannot connect to ${options.host}:${options.port}: ${String(error)}`, "connect");
    }
    const client = new SmtpClient(socket, options);
    client.note(
      `connecting to ${options.host}:${options.port} (${secureTransport === "on" ? "implicit TLS" : secureTransport === "starttls" ? "STARTTLS required" : "plaintext"})`,
    );
    try {
      await client.handshake();
      return client;
    } catch (error) {
      client.abort();
      // The platform says only "internal error" about TLS: ask the server what went wrong.
      if (client.tlsPending) {
        const mode = options.security === "tls" ? "tls" : "starttls";
        const { cause, detail } = await diagnoseTls({ host: options.host, port: options.port, mode, helo: options.helo, timeoutMs: Math.min(client.timeoutMs, 10_000) });
        throw new RelayError(`TLS with ${options.host}:${options.port} (${mode === "tls" ? "implicit TLS" : "STARTTLS"}) failed: ${detail}`, `tls_${cause}`);
      }
      if (error instanceof RelayError) throw error;
      throw new RelayError(`SMTP session with ${options.host}:${options.port} failed: ${error instanceof Error ? error.message : String(error)}`, "connect");
    }
  }

  private attach(): void {
    this.reader = new ReplyReader(this.socket.readable.getReader());
    this.writer = this.socket.writable.getWriter();
  }

  private async handshake(): Promise<void> {
    // With implicit TLS, the socket opens once the TLS handshake is done; a silent peer never opens it.
    this.tlsPending = this.options.security === "tls";
    await within(this.socket.opened, this.timeoutMs, `connecting to ${this.options.host}:${this.options.port} took longer than ${this.timeoutMs} ms`);
    const greeting = await this.reader.next(this.timeoutMs);
    this.heard(greeting);
    this.tlsPending = false;
    this.roundTrips++;
    if (greeting.code !== 220) throw new RelayError(`the SMTP server refused the connection: ${greeting.code} ${greeting.text}`, String(greeting.code));
    await this.ehlo();
    if (this.options.security === "starttls") {
      if (!this.extensions.has("STARTTLS")) throw new RelayError("the SMTP server does not offer STARTTLS; refusing to continue in plaintext", "starttls");
      const [ready] = await this.command(["STARTTLS"]);
      if (ready!.code !== 220) throw new RelayError(`STARTTLS refused: ${ready!.code} ${ready!.text}`, String(ready!.code));
      this.reader.release();
      this.writer.releaseLock();
      this.tlsPending = true;
      this.socket = this.socket.startTls();
      this.attach();
      await within(this.socket.opened, this.timeoutMs, `the TLS handshake took longer than ${this.timeoutMs} ms`);
      this.note("TLS started");
      await this.ehlo();
      this.tlsPending = false;
    }
    if (this.options.username && this.options.oauth) await this.authenticateOAuth(this.options.username, this.options.oauth);
    else if (this.options.username) await this.authenticate(this.options.username, this.options.password ?? "");
  }

  private async ehlo(): Promise<void> {
    const [reply] = await this.command([`EHLO ${this.options.helo}`]);
    if (reply!.code !== 250) {
      const [helo] = await this.command([`HELO ${this.options.helo}`]);
      if (helo!.code !== 250) throw new RelayError(`the SMTP server refused EHLO and HELO: ${helo!.code} ${helo!.text}`, String(helo!.code));
      this.extensions = new Map();
      return;
    }
    this.extensions = new Map(
      reply!.text
        .split("\n")
        .slice(1)
        .map((line) => {
          const [keyword = "", ...rest] = line.trim().split(/\s+/);
          return [keyword.toUpperCase(), rest.join(" ")] as const;
        }),
    );
  }

  private async authenticate(username: string, password: string): Promise<void> {
    const mechanisms = (this.extensions.get("AUTH") ?? "").toUpperCase().split(/\s+/);
    let reply: Reply;
    if (mechanisms.includes("PLAIN")) {
      [reply] = (await this.command([`AUTH PLAIN ${toBase64(`\0${username}\0${password}`)}`], this.timeoutMs, ["AUTH PLAIN <credentials hidden>"])) as [Reply];
    } else if (mechanisms.includes("LOGIN")) {
      const [challenge] = await this.command(["AUTH LOGIN"]);
      if (challenge!.code !== 334) throw new RelayError(`AUTH LOGIN refused: ${challenge!.code} ${challenge!.text}`, String(challenge!.code));
      const [second] = await this.command([toBase64(username)], this.timeoutMs, [`<${username}, base64>`]);
      if (second!.code !== 334) throw new RelayError(`authentication failed: ${second!.code} ${second!.text}`, String(second!.code));
      [reply] = (await this.command([toBase64(password)], this.timeoutMs, ["<password hidden>"])) as [Reply];
    } else {
      throw new RelayError(`the SMTP server offers no AUTH mechanism we speak (PLAIN, LOGIN): "${this.extensions.get("AUTH") ?? ""}"`, "auth");
    }
    if (reply.code !== 235) throw new RelayError(`authentication failed: ${reply.code} ${reply.text}`, String(reply.code));
  }

  /**
   * SASL XOAUTH2 as Google and Microsoft document it. A refused token that
   * came from the cache may have been revoked before it expired: it is
   * dropped and the login tried once more with a new one.
   */
  private async authenticateOAuth(username: string, oauth: SmtpOAuth): Promise<void> {
    const offered = this.extensions.get("AUTH") ?? "";
    if (!offered.toUpperCase().split(/\s+/).includes("XOAUTH2")) {
      throw new RelayError(`the SMTP server does not offer AUTH XOAUTH2, which OAuth needs (it offers "${offered}")`, "auth");
    }
    let access = await oauth.token(false);
    let refusal = await this.xoauth2(username, access.token);
    if (refusal && refusal.code >= 500 && access.cached) {
      access = await oauth.token(true);
      refusal = await this.xoauth2(username, access.token);
    }
    if (refusal) {
      const said = refusal.detail ? ` (${refusal.detail})` : "";
      throw new RelayError(`XOAUTH2 authentication as ${username} failed: ${refusal.code} ${refusal.text}${said}`, String(refusal.code));
    }
  }

  /**
   * One XOAUTH2 exchange; null when the server took the token. A refusal
   * comes as a 334 challenge holding a JSON error (base64), which the client
   * answers with an empty line to get the final 535. The initial response
   * goes on the AUTH line unless the line would pass 512 octets (RFC 4954
   * section 4: Microsoft's tokens are that long), else after a 334.
   */
  private async xoauth2(username: string, token: string): Promise<{ code: number; text: string; detail: string | null } | null> {
    const response = xoauth2(username, token);
    const inline = `AUTH XOAUTH2 ${response}`.length + 2 <= 512;
    let [reply] = (await this.command([inline ? `AUTH XOAUTH2 ${response}` : "AUTH XOAUTH2"], this.timeoutMs, [inline ? "AUTH XOAUTH2 <token hidden>" : "AUTH XOAUTH2"])) as [
      Reply,
    ];
    if (reply.code === 334 && !reply.text.trim()) [reply] = (await this.command([response], this.timeoutMs, ["<token hidden>"])) as [Reply];
    let detail: string | null = null;
    if (reply.code === 334) {
      detail = errorDetail(reply.text);
      [reply] = (await this.command([""])) as [Reply];
    }
    return reply.code === 235 ? null : { code: reply.code, text: reply.text, detail };
  }

  /** Writes the lines in one go and reads one reply per line; `shown` is what the transcript says was sent (credentials hidden). */
  private async command(lines: string[], timeoutMs = this.timeoutMs, shown = lines): Promise<Reply[]> {
    for (const line of shown) this.note(`C: ${line}`);
    await this.writer.write(encoder.encode(lines.map((l) => `${l}\r\n`).join("")));
    this.roundTrips++;
    const replies: Reply[] = [];
    for (let i = 0; i < lines.length; i++) replies.push(this.heard(await this.reader.next(timeoutMs)));
    return replies;
  }

  /** A line of the transcript, when one is kept. */
  private note(line: string): void {
    this.options.transcript?.push(line);
  }

  /** A server reply into the transcript, as it came (`250-…` lines, then `250 …`). */
  private heard(reply: Reply): Reply {
    const lines = reply.text.split("\n");
    for (const [i, line] of lines.entries()) this.note(`S: ${reply.code}${i < lines.length - 1 ? "-" : " "}${line}`.trimEnd());
    return reply;
  }

  get supportsPipelining(): boolean {
    return this.extensions.has("PIPELINING");
  }

  /** One transaction. Recipients are judged one by one; a failure of the server itself is a relay error. */
  async send(envelopeFrom: string, recipients: string[], data: Uint8Array): Promise<SendOutcome> {
    const size = this.extensions.get("SIZE");
    const limit = size ? Number(size) : 0;
    if (limit > 0 && data.byteLength > limit) {
      return {
        kind: "sent",
        providerMessageId: null,
        recipients: allRecipients(recipients, "failed", "552", `message of ${data.byteLength} bytes exceeds the server's limit of ${limit}`),
      };
    }
    const needsUtf8 = !isAscii(envelopeFrom) || recipients.some((r) => !isAscii(r));
    if (needsUtf8 && !this.extensions.has("SMTPUTF8")) {
      return {
        kind: "sent",
        providerMessageId: null,
        recipients: allRecipients(recipients, "failed", "553", "internationalized addresses need SMTPUTF8, which the server does not offer"),
      };
    }
    const eightBit = hasEightBitHeader(data);
    if (eightBit && !needsUtf8 && !this.extensions.has("8BITMIME")) {
      return { kind: "sent", providerMessageId: null, recipients: allRecipients(recipients, "failed", "554", "8-bit content needs 8BITMIME, which the server does not offer") };
    }
    const params = [limit > 0 ? `SIZE=${data.byteLength}` : "", eightBit && this.extensions.has("8BITMIME") ? "BODY=8BITMIME" : "", needsUtf8 ? "SMTPUTF8" : ""].filter(Boolean);
    const mail = `MAIL FROM:<${envelopeFrom}>${params.length ? ` ${params.join(" ")}` : ""}`;
    const rcpts = recipients.map((r) => `RCPT TO:<${r}>`);

    let replies: Reply[];
    if (this.supportsPipelining) {
      replies = await this.command([mail, ...rcpts, "DATA"]);
    } else {
      replies = await this.command([mail]);
      if (replies[0]!.code >= 200 && replies[0]!.code < 300) {
        for (const rcpt of rcpts) replies.push(...(await this.command([rcpt])));
        if (replies.slice(1).some((r) => r.code >= 200 && r.code < 300)) replies.push(...(await this.command(["DATA"])));
      }
    }

    const [mailReply, ...rest] = replies as [Reply, ...Reply[]];
    if (mailReply.code < 200 || mailReply.code >= 300) {
      await this.reset(replies.at(-1)?.code === 354);
      return { kind: "relay_error", code: String(mailReply.code), message: `MAIL FROM refused: ${mailReply.code} ${mailReply.text}` };
    }
    const results: RecipientResult[] = recipients.map((address, i) => {
      const reply = rest[i];
      if (!reply) return { address, status: "failed", code: null, message: "not attempted" };
      return resultOf(address, reply);
    });
    const accepted = results.filter((r) => r.status === "sent");
    const dataReply = rest[recipients.length];
    if (!accepted.length) {
      await this.reset(dataReply?.code === 354);
      return { kind: "sent", providerMessageId: null, recipients: results };
    }
    if (dataReply?.code !== 354) {
      await this.reset(false);
      const code = dataReply ? String(dataReply.code) : null;
      const status = dataReply && dataReply.code >= 500 ? "failed" : "deferred";
      for (const r of accepted) Object.assign(r, { status, code, message: `DATA refused: ${dataReply?.code} ${dataReply?.text}` });
      return { kind: "sent", providerMessageId: null, recipients: results };
    }

    this.note(`C: <the message, ${data.byteLength} bytes>`);
    await this.writer.write(dotStuff(data));
    const [end] = await this.command(["."], this.timeoutMs * 4);
    const final = end!;
    const status = final.code < 300 ? "sent" : final.code < 500 ? "deferred" : "failed";
    for (const r of accepted) Object.assign(r, resultOf(r.address, final));
    const queued = /queued as\s+(\S+)/i.exec(final.text);
    return { kind: "sent", providerMessageId: status === "sent" ? (queued?.[1] ?? final.text) : null, recipients: results };
  }

  /** After a failed transaction: end an open DATA with an empty body if needed, then RSET. */
  private async reset(dataOpen: boolean): Promise<void> {
    if (dataOpen) await this.command(["."]);
    await this.command(["RSET"]);
  }

  async quit(): Promise<void> {
    try {
      await this.command(["QUIT"], 5_000);
    } catch {
      // The server may hang up first; the session is over either way.
    }
    this.abort();
  }

  /** Closes the socket without waiting (closing can hang on a half-open connection). */
  abort(): void {
    this.socket.close().catch(() => {});
  }
}

/** The JSON error of an XOAUTH2 challenge, as one line (`{"status":"401","schemes":"bearer","scope":"mail"}`), or its text. */
function errorDetail(challenge: string): string | null {
  const text = challenge.trim();
  if (!text) return null;
  try {
    const decoded = new TextDecoder().decode(fromBase64(text));
    return JSON.stringify(JSON.parse(decoded));
  } catch {
    return text.slice(0, 200);
  }
}
