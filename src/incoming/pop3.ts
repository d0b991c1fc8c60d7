/**
 * A small POP3 client (RFC 1939, STLS from RFC 2595, AUTH from RFC 5034)
 * over `cloudflare:sockets`, written here because the one maintained npm
 * client (node-pop3) has neither STLS nor SASL (so no XOAUTH2), and a
 * `node:tls` upgrade of a plain socket fails in workerd. It does what
 * fetching needs and no more: log in (USER/PASS, or AUTH XOAUTH2 with the
 * initial response), STAT, UIDL, LIST, TOP n 0 (the header block), RETR,
 * DELE and QUIT (which commits the deletions). Binary-safe: messages are
 * read as bytes, dot-unstuffed, with their CRLF line ends kept. Every reply
 * has a timeout; a message longer than the caller's limit is refused
 * rather than buffered; STARTTLS never falls back to plaintext.
 */
import { connect } from "cloudflare:sockets";
import { concatBytes } from "../mail/bytes";
import { xoauth2 } from "../oauth";
import { MailboxError, type MailboxFault } from "./errors";
import { MAILBOX_TIMEOUT_MS, type MailboxAddress, type MailboxLogin, type RemoteMailbox } from "./mailbox";

export interface Pop3Options {
  host: string;
  port: number;
  security: "tls" | "starttls" | "none";
  timeoutMs: number;
}

export type Pop3Login = { user: string; password: string } | { user: string; xoauth2: string };

const CRLF = new Uint8Array([13, 10]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** A status line longer than this is not POP3. */
const MAX_LINE = 8192;

/** One session with a POP3 server. `open()` connects, reads the greeting and starts TLS as configured. */
export class Pop3Client {
  private reader!: ReadableStreamDefaultReader<Uint8Array>;
  private writer!: WritableStreamDefaultWriter<Uint8Array>;
  /** Bytes read and not yet consumed. */
  private buffer: Uint8Array = new Uint8Array(0);

  private constructor(
    private socket: Socket,
    private readonly options: Pop3Options,
  ) {
    this.attach();
  }

  /** Connects and reads the greeting; with `starttls`, upgrades before anything else is said. */
  static async open(options: Pop3Options): Promise<Pop3Client> {
    const secureTransport = options.security === "tls" ? "on" : options.security === "starttls" ? "starttls" : "off";
    const client = new Pop3Client(connect({ hostname: options.host, port: options.port }, { secureTransport, allowHalfOpen: false }), options);
    try {
      await client.within(client.socket.opened, "connect");
      await client.status("connect");
      if (options.security === "starttls") await client.startTls();
      return client;
    } catch (error) {
      client.abort();
      throw error;
    }
  }

  private attach(): void {
    this.reader = this.socket.readable.getReader();
    this.writer = this.socket.writable.getWriter();
  }

  private async startTls(): Promise<void> {
    const capabilities = await this.capabilities();
    if (!capabilities.has("STLS")) throw new MailboxError("tls", "the POP3 server does not offer STLS; refusing to continue in plaintext");
    await this.command("STLS", "tls");
    this.reader.releaseLock();
    this.writer.releaseLock();
    this.socket = this.socket.startTls();
    this.attach();
    await this.within(this.socket.opened, "tls");
  }

  /** CAPA (RFC 2449): the capability names, upper case; empty when the server has no CAPA. */
  async capabilities(): Promise<Set<string>> {
    await this.write(`CAPA\r\n`);
    const first = await this.line();
    if (!first.startsWith("+OK")) return new Set();
    const lines = decoder.decode(await this.multiLine(MAX_LINE * 16)).split("\r\n");
    return new Set(lines.map((line) => line.split(" ")[0]!.toUpperCase()).filter(Boolean));
  }

  /** USER/PASS, or AUTH XOAUTH2 with the initial response (a refusal's detail, base64 JSON, is read and reported). */
  async login(login: Pop3Login): Promise<void> {
    if ("password" in login) {
      try {
        await this.command(`USER ${login.user}`, "auth");
        await this.command(`PASS ${login.password}`, "auth", "PASS");
      } catch (error) {
        if (!(error instanceof MailboxError) || error.fault !== "auth") throw error;
        throw new MailboxError("auth", `the POP3 server ${this.options.host}:${this.options.port} refused the login for ${login.user}: ${error.message.replace(/^.*?: /, "")}`);
      }
      return;
    }
    // RFC 5034 4: the AUTH line holds at most 255 octets; a longer initial response (Microsoft's tokens are over
    // 1 KB) goes after the server's empty "+" challenge, as Microsoft documents it.
    const inline = `AUTH XOAUTH2 ${login.xoauth2}`.length <= 255;
    await this.write(inline ? `AUTH XOAUTH2 ${login.xoauth2}\r\n` : "AUTH XOAUTH2\r\n");
    let reply = await this.line();
    if (!inline && reply.trimEnd() === "+") {
      await this.write(`${login.xoauth2}\r\n`);
      reply = await this.line();
    }
    let detail = "";
    if (reply === "+" || reply.startsWith("+ ")) {
      // The server's error detail (base64 JSON); an empty line ends the exchange, and the -ERR follows.
      detail = decodeChallenge(reply.slice(2));
      await this.write("\r\n");
      reply = await this.line();
    }
    if (!reply.startsWith("+OK"))
      throw new MailboxError(
        "auth",
        `the POP3 server ${this.options.host}:${this.options.port} refused the OAuth login for ${login.user}: ${errText(reply)}${detail ? ` (${detail})` : ""}`,
      );
  }

  /** STAT: how many messages, and their total size. */
  async stat(): Promise<{ count: number; size: number }> {
    const [count = Number.NaN, size = Number.NaN] = (await this.command("STAT", "protocol")).split(" ").map(Number);
    if (!Number.isInteger(count) || !Number.isInteger(size)) throw new MailboxError("protocol", "the POP3 server answered STAT with something else than a count and a size");
    return { count, size };
  }

  /** UIDL and LIST together: each message's number, unique id and size, in maildrop order. */
  async listing(): Promise<{ number: number; uid: string; size: number }[]> {
    const uids = await this.table("UIDL");
    const sizes = await this.table("LIST");
    return [...uids].map(([number, uid]) => ({ number, uid, size: Number(sizes.get(number) ?? Number.NaN) })).filter((m) => Number.isInteger(m.size));
  }

  private async table(command: "UIDL" | "LIST"): Promise<Map<number, string>> {
    await this.command(command, "protocol");
    const out = new Map<number, string>();
    for (const line of decoder.decode(await this.multiLine(64 * 1024 * 1024)).split("\r\n")) {
      const [number, value] = line.split(" ");
      if (number && value) out.set(Number(number), value);
    }
    return out;
  }

  /** TOP n 0: the header block and the blank line after it. */
  async header(number: number, maxBytes: number): Promise<Uint8Array> {
    await this.command(`TOP ${number} 0`, "protocol");
    return this.multiLine(maxBytes);
  }

  /** RETR: the whole message, as the server stored it. */
  async retrieve(number: number, maxBytes: number): Promise<Uint8Array> {
    await this.command(`RETR ${number}`, "protocol");
    return this.multiLine(maxBytes);
  }

  /** DELE: marked; the deletion happens at QUIT. */
  async delete(number: number): Promise<void> {
    await this.command(`DELE ${number}`, "protocol");
  }

  /** QUIT: the server commits the deletions (RFC 1939 UPDATE state); then the socket closes. */
  async quit(): Promise<void> {
    try {
      await this.command("QUIT", "protocol");
    } finally {
      this.abort();
    }
  }

  /** Closes without QUIT: nothing marked for deletion is deleted. */
  abort(): void {
    this.socket.close().catch(() => {});
  }

  private async command(line: string, fault: MailboxFault, shown = line): Promise<string> {
    await this.write(`${line}\r\n`);
    const reply = await this.line();
    if (!reply.startsWith("+OK")) throw new MailboxError(fault, `the POP3 server refused ${shown.split(" ")[0]}${fault === "auth" ? "" : ` (${shown})`}: ${errText(reply)}`);
    return reply.slice(3).trim();
  }

  private async status(what: MailboxFault): Promise<void> {
    const reply = await this.line();
    if (!reply.startsWith("+OK")) throw new MailboxError(what, `the POP3 server refused the connection: ${errText(reply)}`);
  }

  private async write(text: string): Promise<void> {
    await this.within(this.writer.write(encoder.encode(text)), "connect");
  }

  /** Reads more bytes into the buffer; throws when the server closed the connection. */
  private async fill(): Promise<void> {
    const { done, value } = await this.within(this.reader.read(), "timeout");
    if (done) throw new MailboxError("connect", "the POP3 server closed the connection");
    this.buffer = this.buffer.length ? concatBytes([this.buffer, value]) : value;
  }

  /** The next line, without its CRLF. */
  private async line(): Promise<string> {
    for (let from = 0; ; ) {
      const end = indexOfCrlf(this.buffer, from);
      if (end !== -1) {
        const line = decoder.decode(this.buffer.subarray(0, end));
        this.buffer = this.buffer.subarray(end + 2);
        return line;
      }
      if (this.buffer.length > MAX_LINE) throw new MailboxError("protocol", "the POP3 server sent an overlong line");
      from = Math.max(0, this.buffer.length - 1);
      await this.fill();
    }
  }

  /**
   * The lines of a multi-line answer up to the terminating ".", dot-unstuffed,
   * each ending in CRLF. More than `maxBytes` is refused, not buffered.
   */
  private async multiLine(maxBytes: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let length = 0;
    let from = 0;
    for (;;) {
      const end = indexOfCrlf(this.buffer, from);
      if (end === -1) {
        if (this.buffer.length > maxBytes + MAX_LINE) throw new MailboxError("too_large", `the answer is longer than ${maxBytes} bytes`);
        from = Math.max(0, this.buffer.length - 1);
        await this.fill();
        continue;
      }
      const line = this.buffer.subarray(0, end);
      this.buffer = this.buffer.subarray(end + 2);
      from = 0;
      if (line.length === 1 && line[0] === 0x2e) return concatBytes(parts);
      // RFC 1939 3: a line starting with "." had one more "." put before it.
      const unstuffed = line[0] === 0x2e ? line.subarray(1) : line;
      length += unstuffed.length + 2;
      if (length > maxBytes) throw new MailboxError("too_large", `the answer is longer than ${maxBytes} bytes`);
      parts.push(unstuffed.slice(), CRLF);
    }
  }

  private async within<T>(promise: Promise<T>, fault: MailboxFault): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new MailboxError("timeout", `no answer from ${this.options.host}:${this.options.port} within ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
    });
    try {
      return await Promise.race([promise, late]);
    } catch (error) {
      if (error instanceof MailboxError) throw error;
      throw new MailboxError(fault, `${this.options.host}:${this.options.port}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}

function indexOfCrlf(bytes: Uint8Array, from: number): number {
  for (let i = bytes.indexOf(13, from); i !== -1 && i < bytes.length - 1; i = bytes.indexOf(13, i + 1)) {
    if (bytes[i + 1] === 10) return i;
  }
  return -1;
}

/** What follows `-ERR`, or the whole line when it is not one. */
function errText(reply: string): string {
  return reply.startsWith("-ERR") ? reply.slice(4).trim() || "-ERR" : reply.slice(0, 200);
}

function decodeChallenge(base64: string): string {
  try {
    return atob(base64.trim());
  } catch {
    return "";
  }
}

/**
 * The maildrop as a RemoteMailbox: every message is still to fetch (what
 * was fetched is deleted), keyed by its UIDL. Deletions happen at `close()`
 * (QUIT); `abort()` leaves everything in place.
 */
export async function openPop3(address: MailboxAddress, login: MailboxLogin): Promise<{ mailbox: RemoteMailbox; uidValidity: null }> {
  const client = await Pop3Client.open({ host: address.host, port: address.port, security: address.security, timeoutMs: MAILBOX_TIMEOUT_MS });
  try {
    await client.login("password" in login ? login : { user: login.user, xoauth2: xoauth2(login.user, login.accessToken) });
  } catch (error) {
    client.abort();
    throw error;
  }
  let listing: { number: number; uid: string; size: number }[] | null = null;
  const list = async () => {
    listing ??= await client.listing();
    return listing;
  };
  const mailbox: RemoteMailbox = {
    async pending() {
      return (await list()).map((m) => ({ key: m.uid, ref: m.number }));
    },
    async sizes(messages) {
      const all = await list();
      return new Map(messages.map((m) => [m.ref, all.find((l) => l.number === m.ref)?.size ?? 0]));
    },
    header: (message, maxBytes) => client.header(message.ref, maxBytes),
    raw: (message, maxBytes) => client.retrieve(message.ref, maxBytes),
    done: (message) => client.delete(message.ref),
    async counts() {
      const { count } = await client.stat();
      return { count, unseen: count };
    },
    close: () => client.quit(),
    abort: () => client.abort(),
  };
  return { mailbox, uidValidity: null };
}
