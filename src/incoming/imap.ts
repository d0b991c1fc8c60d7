/**
 * IMAP through imapflow (maintained, by the author of Nodemailer), on
 * `cloudflare:sockets` through its sockets transport: the platform checks
 * the server's certificate against its own roots, STARTTLS upgrades the
 * same socket, and imapflow refuses to go on in plaintext when STARTTLS
 * was asked for (`doSTARTTLS: true`). Its `node:tls` path fails to upgrade
 * in workerd, so the sockets transport is the only one used.
 *
 * Messages are read with BODY.PEEK (never marked by reading) and marked
 * `\Seen` by UID only once the fetcher has committed them.
 */
import { connect } from "cloudflare:sockets";
import { createSocketsTransport, ImapFlow } from "imapflow";
import { MailboxError, type MailboxFault } from "./errors";
import { MAILBOX_TIMEOUT_MS, type MailboxAddress, type MailboxLogin, type RemoteMailbox, type RemoteMessage } from "./mailbox";

/**
 * Connects, logs in and opens the folder (read-only for a test, so nothing
 * changes). Answers the folder's UIDVALIDITY with the session.
 */
export async function openImap(address: MailboxAddress, login: MailboxLogin, options: { readOnly: boolean }): Promise<{ mailbox: RemoteMailbox; uidValidity: number }> {
  const client = new ImapFlow({
    host: address.host,
    port: address.port,
    secure: address.security === "tls",
    doSTARTTLS: address.security === "starttls" ? true : address.security === "none" ? false : undefined,
    auth: "password" in login ? { user: login.user, pass: login.password } : { user: login.user, accessToken: login.accessToken },
    // The platform's Socket has more than imapflow's structural type names (and a wider `opened`).
    transport: createSocketsTransport(connect as unknown as Parameters<typeof createSocketsTransport>[0]),
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: MAILBOX_TIMEOUT_MS,
    greetingTimeout: MAILBOX_TIMEOUT_MS,
    socketTimeout: MAILBOX_TIMEOUT_MS,
  });
  // A dropped connection is also emitted as an event; the pending command's own rejection carries it to us.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    client.close();
    throw imapError(error, address, login.user, "connect");
  }
  let uidValidity: number;
  try {
    const opened = await client.mailboxOpen(address.folder, { readOnly: options.readOnly });
    uidValidity = Number(opened.uidValidity);
  } catch (error) {
    client.close();
    throw imapError(error, address, login.user, "folder");
  }
  const key = (uid: number) => `${uidValidity}:${uid}`;

  const mailbox: RemoteMailbox = {
    async pending() {
      const uids = await run(() => client.search({ seen: false }, { uid: true }));
      return (uids || []).sort((a, b) => a - b).map((uid) => ({ key: key(uid), ref: uid }));
    },
    async sizes(messages) {
      const sizes = new Map<number, number>();
      if (!messages.length) return sizes;
      await run(async () => {
        for await (const message of client.fetch(messages.map((m) => m.ref).join(","), { uid: true, size: true }, { uid: true })) {
          if (message.size !== undefined) sizes.set(message.uid, message.size);
        }
      });
      return sizes;
    },
    async header(message, maxBytes) {
      const fetched = await run(() => client.fetchOne(String(message.ref), { headers: true }, { uid: true }));
      if (fetched === false || !fetched.headers) throw new MailboxError("protocol", `message UID ${message.ref} is gone from ${address.folder}`);
      return new Uint8Array(fetched.headers.subarray(0, maxBytes));
    },
    async raw(message, maxBytes) {
      const fetched = await run(() => client.fetchOne(String(message.ref), { source: { maxLength: maxBytes + 1 } }, { uid: true }));
      if (fetched === false || !fetched.source) throw new MailboxError("protocol", `message UID ${message.ref} is gone from ${address.folder}`);
      if (fetched.source.length > maxBytes) throw new MailboxError("too_large", `message UID ${message.ref} is larger than ${maxBytes} bytes`);
      return new Uint8Array(fetched.source);
    },
    async done(message: RemoteMessage) {
      await run(() => client.messageFlagsAdd(String(message.ref), ["\\Seen"], { uid: true }));
    },
    async counts() {
      const status = await run(() => client.status(address.folder, { messages: true, unseen: true }));
      if (!status) throw new MailboxError("folder", `the IMAP server ${address.host}:${address.port} gave no STATUS for ${address.folder}`);
      return { count: status.messages ?? 0, unseen: status.unseen ?? 0 };
    },
    async close() {
      await client.logout().catch(() => client.close());
    },
    abort() {
      client.close();
    },
  };
  return { mailbox, uidValidity };

  async function run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw imapError(error, address, login.user, "protocol");
    }
  }
}

/** imapflow's errors, told apart by their codes, as the operator reads them. */
function imapError(error: unknown, address: MailboxAddress, user: string, step: MailboxFault): MailboxError {
  if (error instanceof MailboxError) return error;
  const e = (error ?? {}) as { code?: string; message?: string; responseText?: string; authenticationFailed?: boolean; serverResponseCode?: string };
  const where = `${address.host}:${address.port}`;
  const said = e.responseText || e.message || String(error);
  if (e.authenticationFailed || e.serverResponseCode === "AUTHENTICATIONFAILED") return new MailboxError("auth", `the IMAP server ${where} refused the login for ${user}: ${said}`);
  switch (e.code) {
    case "ECONNREFUSED":
      return new MailboxError("connect", `cannot connect to ${where}: connection refused`);
    case "CONNECT_TIMEOUT":
    case "GREETING_TIMEOUT":
    case "UPGRADE_TIMEOUT":
    case "ETIMEOUT":
      return new MailboxError("timeout", `the IMAP server ${where} did not answer in time (${e.code})`);
    case "ClosedAfterConnectTLS":
    case "ClosedAfterConnectText":
    case "NoConnection":
    case "EConnectionClosed":
      return new MailboxError("connect", `the IMAP server ${where} closed the connection (${e.code})`);
    case "MissingServerExtension":
      return new MailboxError("tls", `the IMAP server ${where} does not offer STARTTLS; refusing to continue in plaintext`);
    case "LiteralTooLarge":
    case "DownloadOverflow":
      return new MailboxError("too_large", `the IMAP server ${where} sent more than the size limit`);
  }
  if (step === "folder") return new MailboxError("folder", `the IMAP server ${where} cannot open the folder ${address.folder}: ${said}`);
  // The platform reports a failed TLS handshake only as a network error, before any IMAP was spoken.
  if (step === "connect" && address.security !== "none" && /tls|ssl|certificate|handshake|internal error/i.test(said)) {
    return new MailboxError(
      "tls",
      `TLS with ${where} failed (${said}): check that the certificate is valid for ${address.host} and the port speaks ${address.security === "tls" ? "implicit TLS" : "STARTTLS"}`,
    );
  }
  return new MailboxError(step, `the IMAP session with ${where} failed: ${said}`);
}
