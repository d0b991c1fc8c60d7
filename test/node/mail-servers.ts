/**
 * Vitest global setup (Node): the real SMTP servers (npm smtp-server) and
 * the fake HTTP providers the outbound tests send to, all on loopback, plus
 * a control endpoint where tests read what arrived, parsed by Python's
 * standard `email` package (policy.SMTP) as an independent check.
 *
 * SMTP servers, by port name:
 * - plain: no TLS; AUTH PLAIN/LOGIN offered (user "user", password "pass");
 * - starttls: STARTTLS, AUTH required after it;
 * - tls: implicit TLS, AUTH required;
 * - nostarttls: plaintext, no STARTTLS offered;
 * - nopipelining: like plain without PIPELINING.
 * - loginonly: AUTH LOGIN only, required;
 * - small: takes messages up to 4 KB (SIZE 4096);
 * - hangup: a bare TCP server that speaks just enough SMTP, takes the
 *   message, and drops the connection instead of answering the final dot;
 * - silent: accepts connections and never answers.
 * Recipients steer the smtp-server ones: `reject…@` 550, `tempfail…@` always
 * 451, `flaky…@` 451 the first time then 250.
 *
 * Webhook receivers (/hooks/<name>): PUT configures one (its secrets, how
 * many first attempts fail and with which status), POST is the receiver
 * itself, which verifies the signature as the README tells receivers to and
 * records every request, GET lists what it received.
 *
 * Fake providers (paths under the control URL): /postmark, /resend, /ses,
 * /mailgun, /sendgrid. Each checks each request the way the provider's
 * documentation says the real one does, answers as it would, and records
 * it for the tests. Credentials steer them: the valid ones are in
 * PROVIDER_CREDENTIALS; "server-error" gives 500, "rate-limited" 429.
 * Besides sending, each answers the read-only request a relay test makes
 * (Postmark GET /server, Resend GET /domains, SES GET /v2/email/account,
 * Mailgun GET /v4/domains/{name}, SendGrid GET /v3/scopes), and
 * LIMITED_CREDENTIALS are keys that may send but not read (Resend's
 * sending-only key, an SES policy allowing only sending, a SendGrid key
 * without mail.send for the contrary case).
 */
import { spawnSync } from "node:child_process";
import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import type { TestProject } from "vitest/node";

export const SMTP_USER = "user";
export const SMTP_PASSWORD = "pass";

export const PROVIDER_CREDENTIALS = {
  postmark: "pm-server-token",
  resend: "re_test_key",
  ses: { accessKeyId: "AKIDEXAMPLEMAILGATE", secretAccessKey: "ses-secret-key", region: "eu-west-1" },
  mailgun: { domain: "mg.example.com", apiKey: "key-mailgun" },
  sendgrid: "SG.test-key",
};

/** Keys with fewer rights than PROVIDER_CREDENTIALS' (see the header). */
export const LIMITED_CREDENTIALS = {
  resendSendingOnly: "re_sending_only_key",
  sesSendOnlyKeyId: "AKIDSENDONLYMAILGATE",
  sendgridNoMailSend: "SG.stats-read-only",
};

interface ReceivedSmtp {
  server: string;
  /** The SMTP session (connection) the message came in on. */
  session: string;
  secure: boolean;
  user: string | null;
  mailFrom: string;
  mailFromArgs: Record<string, unknown>;
  rcptTo: string[];
  raw: string;
}

interface RecordedRequest {
  provider: string;
  method: string;
  /** The path under the provider's base URL: /email, /server, /v3/scopes… */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** For raw-MIME providers: the MIME they received. */
  raw?: string;
  status: number;
}

interface HookConfig {
  secrets: string[];
  /** Answer this many verified requests with failStatus first. */
  fail: number;
  failStatus: number;
}

interface HookRequest {
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  verified: boolean;
  status: number;
}

const hooks = new Map<string, { config: HookConfig; received: HookRequest[] }>();

/** What a receiver does with `mailgate-signature` (the README's example, in Node). */
function verifySignature(header: string | undefined, body: string, secrets: string[], nowSeconds: number): boolean {
  const parts = (header ?? "").split(",").map((p) => p.split("=") as [string, string]);
  const t = Number(parts.find(([k]) => k === "t")?.[1]);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > 300) return false;
  const given = parts.filter(([k]) => k === "v1").map(([, v]) => Buffer.from(v ?? "", "hex"));
  return secrets.some((secret) => {
    const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
    return given.some((g) => g.length === expected.length && timingSafeEqual(g, expected));
  });
}

function hookEndpoint(request: IncomingMessage, body: Buffer, response: ServerResponse, name: string): number {
  if (request.method === "PUT") {
    const config = JSON.parse(body.toString("utf8")) as Partial<HookConfig>;
    hooks.set(name, { config: { secrets: config.secrets ?? [], fail: config.fail ?? 0, failStatus: config.failStatus ?? 500 }, received: [] });
    return send(response, 200, { configured: name });
  }
  const hook = hooks.get(name);
  if (request.method === "GET") return send(response, 200, hook?.received ?? []);
  if (!hook) return send(response, 404, { error: "no such hook" });
  const text = body.toString("utf8");
  const verified = verifySignature(request.headers["mailgate-signature"] as string | undefined, text, hook.config.secrets, Math.floor(Date.now() / 1000));
  let status = verified ? 200 : 401;
  if (verified && hook.config.fail > 0) {
    hook.config.fail -= 1;
    status = hook.config.failStatus;
  }
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  hook.received.push({ headers: request.headers, body: parsed, verified, status });
  return send(response, status, { received: verified });
}

const smtpLog: ReceivedSmtp[] = [];
const providerLog: RecordedRequest[] = [];
const flakySeen = new Set<string>();

/** Python's standard parser (policy.SMTP) reads the message: an independent check of our MIME. */
const PYTHON_PARSE = `
import sys, json, email, email.policy
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.SMTP)
def addrs(name):
    h = msg[name]
    return [] if h is None else [{"name": a.display_name, "address": a.addr_spec} for a in h.addresses]
parts = []
# Every defect: the message's, each part's, and each header's (policy.SMTP parses headers into objects that carry their own).
defects = [type(d).__name__ for d in msg.defects]
for p in msg.walk():
    defects += [type(d).__name__ for d in p.defects]
    for k, v in p.items():
        defects += [f"{k}: {type(d).__name__}" for d in getattr(v, "defects", ())]
    if p.is_multipart():
        continue
    payload = p.get_payload(decode=True) or b""
    parts.append({"content_type": p.get_content_type(), "charset": p.get_content_charset(), "filename": p.get_filename(),
                  "disposition": p.get_content_disposition(), "size": len(payload),
                  "text": p.get_content() if p.get_content_maintype() == "text" else None})
print(json.dumps({"subject": str(msg["Subject"]) if msg["Subject"] is not None else None, "from": addrs("From"), "to": addrs("To"),
                  "cc": addrs("Cc"), "reply_to": addrs("Reply-To"), "bcc_header": msg["Bcc"] is not None,
                  "message_id": msg["Message-ID"], "in_reply_to": msg["In-Reply-To"], "references": msg["References"],
                  "headers": [[k, str(v)] for k, v in msg.items()], "content_type": msg.get_content_type(),
                  "parts": parts, "defects": defects}))
`;

export function pythonParse(raw: string | Buffer): unknown {
  const result = spawnSync("python3", ["-c", PYTHON_PARSE], { input: raw, maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) return { error: result.stderr.toString() };
  const parsed = JSON.parse(result.stdout.toString()) as Record<string, unknown>;
  const text = typeof raw === "string" ? raw : raw.toString("latin1");
  parsed.long_lines = text.split("\r\n").filter((line) => line.length > 998).length;
  parsed.bare_lf = /[^\r]\n/.test(text);
  return parsed;
}

function startSmtp(name: string, options: SMTPServerOptions): Promise<{ name: string; port: number; server: SMTPServer }> {
  const server = new SMTPServer({
    logger: false,
    banner: `mailgate test server ${name}`,
    size: 30 * 1024 * 1024,
    authMethods: ["PLAIN", "LOGIN"],
    onAuth(auth, _session, callback) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) return callback(null, { user: auth.username });
      const error = new Error("5.7.8 Authentication credentials invalid") as Error & { responseCode: number };
      error.responseCode = 535;
      callback(error);
    },
    onRcptTo(address, _session, callback) {
      const local = address.address.split("@")[0]!;
      const refuse = (code: number, text: string) => callback(Object.assign(new Error(text), { responseCode: code }));
      if (local.startsWith("reject")) return refuse(550, "5.1.1 Mailbox does not exist");
      if (local.startsWith("tempfail")) return refuse(451, "4.3.0 Try again later");
      if (local.startsWith("flaky") && !flakySeen.has(address.address)) {
        flakySeen.add(address.address);
        return refuse(451, "4.7.1 Greylisted, try again");
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const rcpts = session.envelope.rcptTo.map((r) => r.address);
        smtpLog.push({
          server: name,
          session: session.id,
          secure: session.secure,
          user: (session.user as string | undefined) ?? null,
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          mailFromArgs: session.envelope.mailFrom ? ((session.envelope.mailFrom as unknown as { args: Record<string, unknown> }).args ?? {}) : {},
          rcptTo: rcpts,
          raw: Buffer.concat(chunks).toString("latin1"),
        });
        callback(null, `2.0.0 Ok: queued as ${randomUUID().slice(0, 12)}`);
      });
    },
    ...options,
  });
  return new Promise((resolve, reject) => {
    server.on("error", () => {});
    server.listen(0, "127.0.0.1", () => resolve({ name, port: (server.server.address() as AddressInfo).port, server }));
    server.server.once("error", reject);
  });
}

/** Speaks SMTP up to the end of DATA, then hangs up without the final reply. */
function startHangup(): Promise<{ name: string; port: number; server: TcpServer }> {
  const server = createTcpServer((socket) => {
    let inData = false;
    let buffer = "";
    socket.write("220 hangup.test ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffer += chunk.toString("latin1");
      if (inData) {
        if (buffer.includes("\r\n.\r\n")) socket.destroy();
        return;
      }
      for (let end = buffer.indexOf("\r\n"); end !== -1; end = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO") socket.write("250-hangup.test\r\n250 PIPELINING\r\n");
        else if (verb === "DATA") {
          socket.write("354 go ahead\r\n");
          inData = true;
          if (buffer.includes("\r\n.\r\n")) socket.destroy();
          return;
        } else if (verb === "QUIT") socket.end("221 bye\r\n");
        else socket.write("250 ok\r\n");
      }
    });
    socket.on("error", () => {});
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ name: "hangup", port: (server.address() as AddressInfo).port, server })));
}

/** Accepts connections and never says a word (for reply timeouts). */
function startSilent(): Promise<{ name: string; port: number; server: TcpServer; sockets: Set<import("node:net").Socket> }> {
  const sockets = new Set<import("node:net").Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ name: "silent", port: (server.address() as AddressInfo).port, server, sockets })));
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  response.writeHead(status, { "Content-Type": typeof body === "string" ? "text/plain" : "application/json", ...headers }).end(text);
  return status;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ADDRESS = /^[^\s@<>",]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/;
/** "Name" <a@b>, Name <a@b> or a@b (what JSON-API providers accept). */
function parseAddress(value: string): string | null {
  const match = /^(?:"(?:[^"\\]|\\.)*"\s*|[^<>"]*)<([^<>]+)>$/.exec(value.trim());
  const address = (match ? match[1]! : value.trim()).toLowerCase();
  return ADDRESS.test(address) ? address : null;
}

/** Postmark: https://postmarkapp.com/developer/api/email-api */
function postmark(request: IncomingMessage, body: Buffer, response: ServerResponse): number {
  const token = request.headers["x-postmark-server-token"];
  if (token === "server-error") return send(response, 500, { ErrorCode: 100, Message: "Maintenance" });
  if (token === "rate-limited") return send(response, 429, { ErrorCode: 429, Message: "Rate limit exceeded" });
  if (token !== PROVIDER_CREDENTIALS.postmark) return send(response, 401, { ErrorCode: 10, Message: "Bad or missing Server API token." });
  if (request.headers["content-type"] !== "application/json" || request.headers.accept !== "application/json")
    return send(response, 415, { ErrorCode: 409, Message: "JSON required" });
  if (body.length > 10_000_000) return send(response, 413, { ErrorCode: 300, Message: "Payload too large" });
  let email: Record<string, unknown>;
  try {
    email = JSON.parse(body.toString("utf8"));
  } catch {
    return send(response, 422, { ErrorCode: 402, Message: "Received invalid JSON input." });
  }
  const known = new Set([
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Tag",
    "HtmlBody",
    "TextBody",
    "ReplyTo",
    "Headers",
    "TrackOpens",
    "TrackLinks",
    "Metadata",
    "Attachments",
    "MessageStream",
  ]);
  const unknown = Object.keys(email).filter((k) => !known.has(k));
  if (unknown.length) return send(response, 422, { ErrorCode: 403, Message: `Incompatible JSON input: ${unknown.join(", ")}` });
  const invalid = (message: string) => send(response, 422, { ErrorCode: 300, Message: message });
  if (typeof email.From !== "string" || !parseAddress(email.From)) return invalid(`Invalid 'From' address: '${String(email.From)}'.`);
  const list = (v: unknown) => (typeof v === "string" && v.trim() ? v.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/).map((a) => a.trim()) : []);
  const recipients = [...list(email.To), ...list(email.Cc), ...list(email.Bcc)];
  if (!list(email.To).length) return invalid("Zero recipients specified");
  if (recipients.length > 50) return invalid("Maximum of 50 recipients allowed.");
  for (const r of recipients) if (!parseAddress(r)) return invalid(`Illegal email address '${r}'. It must contain the '@' symbol.`);
  if (!email.TextBody && !email.HtmlBody) return invalid("Provide either email TextBody or HtmlBody or both.");
  for (const h of (email.Headers as { Name?: unknown; Value?: unknown }[] | undefined) ?? []) {
    if (typeof h.Name !== "string" || typeof h.Value !== "string") return invalid("Headers must be {Name, Value} strings");
  }
  for (const a of (email.Attachments as Record<string, unknown>[] | undefined) ?? []) {
    if (
      typeof a.Name !== "string" ||
      typeof a.Content !== "string" ||
      !BASE64.test(a.Content) ||
      typeof a.ContentType !== "string" ||
      !/^[\w.+-]+\/[\w.+-]+$/.test(a.ContentType)
    ) {
      return invalid("Attachments need Name, base64 Content and a valid ContentType");
    }
  }
  const inactive = recipients.map(parseAddress).filter((a): a is string => a?.startsWith("inactive") === true);
  if (inactive.length) {
    return send(response, 422, {
      ErrorCode: 406,
      Message: `You tried to send to recipient(s) that have been marked as inactive.\nFound inactive addresses: ${inactive.join(", ")}.\nInactive recipients are ones that have generated a hard bounce or a spam complaint. `,
    });
  }
  return send(response, 200, { To: String(email.To), SubmittedAt: new Date().toISOString(), MessageID: randomUUID(), ErrorCode: 0, Message: "OK" });
}

/** Postmark GET /server: https://postmarkapp.com/developer/api/server-api (the server token's own server; Accept: application/json required). */
function postmarkServer(request: IncomingMessage, response: ServerResponse): number {
  const token = request.headers["x-postmark-server-token"];
  if (request.method !== "GET") return send(response, 405, { ErrorCode: 405, Message: "Method not allowed" });
  if (request.headers.accept !== "application/json") return send(response, 415, { ErrorCode: 409, Message: "JSON required" });
  if (token === "server-error") return send(response, 500, { ErrorCode: 100, Message: "Maintenance" });
  if (token !== PROVIDER_CREDENTIALS.postmark) return send(response, 401, { ErrorCode: 10, Message: "Bad or missing Server API token." });
  // The real answer lists the server's API tokens: a relay test must never show them.
  return send(response, 200, { ID: 4242, Name: "mailgate test server", ApiTokens: [token], Color: "blue", SmtpApiActivated: true, RawEmailEnabled: false, DeliveryType: "Live" });
}

const resendIdempotency = new Map<string, { hash: string; response: unknown }>();

/** Resend: https://resend.com/docs/api-reference/emails/send-email */
function resend(request: IncomingMessage, body: Buffer, response: ServerResponse): number {
  const auth = request.headers.authorization;
  if (!auth) return send(response, 401, { statusCode: 401, name: "missing_api_key", message: "Missing API key in the authorization header." });
  const key = auth.replace(/^Bearer /, "");
  if (key === "server-error") return send(response, 500, { statusCode: 500, name: "application_error", message: "An unexpected error occurred." });
  if (key === "rate-limited") return send(response, 429, { statusCode: 429, name: "rate_limit_exceeded", message: "Too many requests." });
  if (key !== PROVIDER_CREDENTIALS.resend && key !== LIMITED_CREDENTIALS.resendSendingOnly)
    return send(response, 403, { statusCode: 403, name: "invalid_api_key", message: "API key is invalid" });
  let email: Record<string, unknown>;
  try {
    email = JSON.parse(body.toString("utf8"));
  } catch {
    return send(response, 400, { statusCode: 400, name: "validation_error", message: "Invalid JSON" });
  }
  const invalid = (message: string, name = "validation_error") => send(response, 422, { statusCode: 422, name, message });
  const known = new Set(["from", "to", "cc", "bcc", "reply_to", "subject", "html", "text", "headers", "attachments", "tags", "scheduled_at"]);
  const unknown = Object.keys(email).filter((k) => !known.has(k));
  if (unknown.length) return invalid(`Unknown field(s): ${unknown.join(", ")}`);
  if (typeof email.from !== "string" || !parseAddress(email.from)) return invalid("Invalid `from` field.", "invalid_from_address");
  const list = (v: unknown) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const to = list(email.to);
  if (!to.length || to.length > 50) return invalid("The `to` field must have 1 to 50 addresses.");
  for (const a of [...to, ...list(email.cc), ...list(email.bcc), ...list(email.reply_to)]) {
    if (typeof a !== "string" || !parseAddress(a))
      return invalid("Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.");
  }
  if (typeof email.subject !== "string") return invalid("Missing `subject` field.", "missing_required_field");
  if (email.headers !== undefined && (typeof email.headers !== "object" || Object.values(email.headers as object).some((v) => typeof v !== "string")))
    return invalid("headers must be an object of strings");
  for (const a of (email.attachments as Record<string, unknown>[] | undefined) ?? []) {
    if (typeof a.filename !== "string" || typeof a.content !== "string" || !BASE64.test(a.content))
      return invalid("Attachment must have a filename and base64 content", "invalid_attachment");
  }
  const idempotencyKey = request.headers["idempotency-key"] as string | undefined;
  const hash = createHash("sha256").update(body).digest("hex");
  if (idempotencyKey) {
    if (idempotencyKey.length > 256) return send(response, 400, { statusCode: 400, name: "invalid_idempotency_key", message: "too long" });
    const seen = resendIdempotency.get(idempotencyKey);
    if (seen && seen.hash !== hash) return send(response, 409, { statusCode: 409, name: "invalid_idempotent_request", message: "Same key, different payload" });
    if (seen) return send(response, 200, seen.response);
  }
  const answer = { id: randomUUID() };
  if (idempotencyKey) resendIdempotency.set(idempotencyKey, { hash, response: answer });
  return send(response, 200, answer);
}

/** Resend GET /domains: https://resend.com/docs/api-reference/domains/list-domains, errors as https://resend.com/docs/api-reference/errors lists them. */
function resendDomains(request: IncomingMessage, response: ServerResponse): number {
  const auth = request.headers.authorization;
  if (request.method !== "GET") return send(response, 405, { statusCode: 405, name: "method_not_allowed", message: "Method is not allowed for the requested path." });
  if (!auth) return send(response, 401, { statusCode: 401, name: "missing_api_key", message: "Missing API key in the authorization header." });
  const key = auth.replace(/^Bearer /, "");
  if (key === "server-error") return send(response, 500, { statusCode: 500, name: "application_error", message: "An unexpected error occurred." });
  if (key === LIMITED_CREDENTIALS.resendSendingOnly)
    return send(response, 401, { statusCode: 401, name: "restricted_api_key", message: "This API key is restricted to only send emails." });
  if (key !== PROVIDER_CREDENTIALS.resend) return send(response, 403, { statusCode: 403, name: "invalid_api_key", message: "API key is invalid" });
  return send(response, 200, {
    object: "list",
    has_more: false,
    data: [{ id: "d91cd9bd-1176-453e-8fc1-35364d380206", name: "example.com", status: "verified", created_at: "2026-04-26T20:21:26.347412+00:00", region: "us-east-1" }],
  });
}

/** SES v2 SendEmail with raw content, SigV4 checked exactly (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html). */
function ses(request: IncomingMessage, body: Buffer, response: ServerResponse, path: string, signedPath: string): { status: number; raw?: string } {
  const { accessKeyId, secretAccessKey, region } = PROVIDER_CREDENTIALS.ses;
  const error = (status: number, type: string, message: string) => ({ status: send(response, status, { message }, { "X-Amzn-ErrorType": type }) });
  // GetAccount (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_GetAccount.html): the relay test's read-only request.
  const getAccount = request.method === "GET" && path === "/v2/email/account";
  if (!getAccount && (request.method !== "POST" || path !== "/v2/email/outbound-emails")) return error(404, "NotFoundException", "Unknown operation");
  const auth = String(request.headers.authorization ?? "");
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
  const amzDate = String(request.headers["x-amz-date"] ?? "");
  if (!match || !/^\d{8}T\d{6}Z$/.test(amzDate)) return error(403, "IncompleteSignature", "Authorization header or X-Amz-Date missing or malformed");
  const [, keyId, date, signedRegion, service, signedHeaders, signature] = match as unknown as string[];
  if (keyId === "server-error") return error(500, "InternalFailure", "internal error");
  if (keyId === "rate-limited") return error(429, "TooManyRequestsException", "Maximum sending rate exceeded.");
  if (keyId !== accessKeyId && keyId !== LIMITED_CREDENTIALS.sesSendOnlyKeyId)
    return error(403, "UnrecognizedClientException", "The security token included in the request is invalid.");
  if (date !== amzDate.slice(0, 8) || signedRegion !== region || service !== "ses") return error(403, "SignatureDoesNotMatch", "Credential scope does not match");
  const names = signedHeaders!.split(";");
  if (!names.includes("host") || !names.includes("x-amz-date")) return error(403, "SignatureDoesNotMatch", "host and x-amz-date must be signed");
  const canonicalHeaders = names
    .map(
      (n) =>
        `${n}:${String(request.headers[n] ?? "")
          .trim()
          .replace(/\s+/g, " ")}\n`,
    )
    .join("");
  const canonical = [request.method, signedPath, "", canonicalHeaders, signedHeaders, createHash("sha256").update(body).digest("hex")].join("\n");
  const scope = `${date}/${region}/ses/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, createHash("sha256").update(canonical).digest("hex")].join("\n");
  const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date!), region), "ses"), "aws4_request");
  const expected = createHmac("sha256", signingKey).update(stringToSign).digest("hex");
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature!))) {
    return error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.");
  }
  if (getAccount) {
    if (body.length) return error(400, "BadRequestException", "GetAccount takes no body");
    if (keyId === LIMITED_CREDENTIALS.sesSendOnlyKeyId) {
      return error(403, "AccessDeniedException", `User: arn:aws:iam::123456789012:user/mailgate-send is not authorized to perform: ses:GetAccount`);
    }
    return {
      status: send(response, 200, {
        DedicatedIpAutoWarmupEnabled: false,
        EnforcementStatus: "HEALTHY",
        ProductionAccessEnabled: true,
        SendingEnabled: true,
        SendQuota: { Max24HourSend: 50000, MaxSendRate: 14, SentLast24Hours: 12 },
      }),
    };
  }
  if (!String(request.headers["content-type"]).startsWith("application/json")) return error(400, "BadRequestException", "Content-Type must be application/json");
  let email: Record<string, unknown>;
  try {
    email = JSON.parse(body.toString("utf8"));
  } catch {
    return error(400, "BadRequestException", "invalid JSON");
  }
  const known = new Set([
    "FromEmailAddress",
    "FromEmailAddressIdentityArn",
    "Destination",
    "ReplyToAddresses",
    "FeedbackForwardingEmailAddress",
    "FeedbackForwardingEmailAddressIdentityArn",
    "Content",
    "EmailTags",
    "ConfigurationSetName",
    "ListManagementOptions",
    "EndpointId",
  ]);
  const unknown = Object.keys(email).filter((k) => !known.has(k));
  if (unknown.length) return error(400, "BadRequestException", `Unknown fields: ${unknown.join(", ")}`);
  const data = (email.Content as { Raw?: { Data?: unknown } } | undefined)?.Raw?.Data;
  if (typeof data !== "string" || !BASE64.test(data)) return error(400, "BadRequestException", "Content.Raw.Data must be base64");
  const raw = Buffer.from(data, "base64").toString("latin1");
  if (raw.length > 40 * 1024 * 1024) return error(400, "MessageRejected", "Message length is more than 40 MB");
  if (!raw.includes("\r\n\r\n")) return error(400, "MessageRejected", "Raw message has no header/body separator");
  if (raw.split("\r\n").some((line) => line.length > 1000)) return error(400, "MessageRejected", "Line longer than 1000 characters");
  const destination = email.Destination as { ToAddresses?: string[]; CcAddresses?: string[]; BccAddresses?: string[] } | undefined;
  const recipients = [...(destination?.ToAddresses ?? []), ...(destination?.CcAddresses ?? []), ...(destination?.BccAddresses ?? [])];
  if (!recipients.length) return error(400, "BadRequestException", "Destination is required with Raw content here");
  if (recipients.length > 50) return error(400, "MessageRejected", "Recipient count exceeds 50");
  if (recipients.some((r) => r.startsWith("rejected"))) return error(400, "MessageRejected", "Email address is not verified. The following identities failed the check: rejected@");
  return { status: send(response, 200, { MessageId: randomUUID() }), raw };
}

/** Parses a multipart/form-data body into its fields (for the Mailgun fake). */
function formData(request: IncomingMessage, body: Buffer): Map<string, { value: string; filename: string | null }[]> {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(String(request.headers["content-type"]))?.slice(1).find(Boolean);
  const fields = new Map<string, { value: string; filename: string | null }[]>();
  if (!boundary) return fields;
  const text = body.toString("latin1");
  for (const part of text.split(`--${boundary}`).slice(1, -1)) {
    const split = part.indexOf("\r\n\r\n");
    const head = part.slice(0, split);
    const value = part.slice(split + 4, part.length - 2);
    const name = /name="([^"]+)"/.exec(head)?.[1];
    if (!name) continue;
    const filename = /filename="([^"]*)"/.exec(head)?.[1] ?? null;
    fields.set(name, [...(fields.get(name) ?? []), { value, filename }]);
  }
  return fields;
}

/** Mailgun messages.mime: https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages */
function mailgun(request: IncomingMessage, body: Buffer, response: ServerResponse, path: string): { status: number; raw?: string } {
  const { domain, apiKey } = PROVIDER_CREDENTIALS.mailgun;
  const auth = Buffer.from(String(request.headers.authorization ?? "").replace(/^Basic /, ""), "base64").toString();
  const [user, key] = [auth.slice(0, auth.indexOf(":")), auth.slice(auth.indexOf(":") + 1)];
  if (key === "server-error") return { status: send(response, 500, { message: "Internal error" }) };
  if (key === "rate-limited") return { status: send(response, 429, { message: "Too many requests" }) };
  if (user !== "api" || key !== apiKey) return { status: send(response, 401, "Forbidden") };
  const pathMatch = /^\/v3\/([^/]+)\/messages\.mime$/.exec(path);
  if (!pathMatch) return { status: send(response, 404, "Mailgun Magnificent API") };
  if (decodeURIComponent(pathMatch[1]!) !== domain) return { status: send(response, 404, { message: `Domain not found: ${pathMatch[1]}` }) };
  if (!String(request.headers["content-type"]).startsWith("multipart/form-data")) return { status: send(response, 400, { message: "multipart/form-data expected" }) };
  const fields = formData(request, body);
  const to = (fields.get("to") ?? [])
    .flatMap((f) => f.value.split(","))
    .map((a) => a.trim())
    .filter(Boolean);
  const message = fields.get("message")?.[0];
  if (!to.length) return { status: send(response, 400, { message: "'to' parameter is missing" }) };
  if (!message || message.filename === null) return { status: send(response, 400, { message: "'message' parameter is not a file" }) };
  if (message.value.length > 25_000_000) return { status: send(response, 413, { message: "Message too large" }) };
  if (to.some((a) => !parseAddress(a))) return { status: send(response, 400, { message: "to parameter is not a valid address. please check documentation" }) };
  return { status: send(response, 200, { id: `<${randomUUID()}@${domain}>`, message: "Queued. Thank you." }), raw: message.value };
}

/** Mailgun GET /v4/domains/{name}: https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/domains/get-v4-domains--name- (401 and 404 `{ message }`). */
function mailgunDomain(request: IncomingMessage, response: ServerResponse, path: string): number {
  const { domain, apiKey } = PROVIDER_CREDENTIALS.mailgun;
  const auth = Buffer.from(String(request.headers.authorization ?? "").replace(/^Basic /, ""), "base64").toString();
  const [user, key] = [auth.slice(0, auth.indexOf(":")), auth.slice(auth.indexOf(":") + 1)];
  if (key === "server-error") return send(response, 500, { message: "Internal error" });
  if (user !== "api" || key !== apiKey) return send(response, 401, { message: "Invalid private key" });
  const name = decodeURIComponent(path.slice("/v4/domains/".length));
  if (name !== domain) return send(response, 404, { message: "Domain not found" });
  return send(response, 200, {
    domain: { created_at: "Wed, 10 Jul 2026 19:17:00 GMT", id: "64a5a7e7c7f5e4b0a1b2c3d4", name, state: "active", type: "custom", spam_action: "disabled", is_disabled: false },
    receiving_dns_records: null,
    sending_dns_records: null,
  });
}

/** SendGrid GET /v3/scopes: https://www.twilio.com/docs/sendgrid/api-reference/api-key-permissions/retrieve-a-list-of-scopes-for-which-this-user-has-access */
function sendgridScopes(request: IncomingMessage, response: ServerResponse): number {
  const key = String(request.headers.authorization ?? "").replace(/^Bearer /, "");
  const errors = (status: number, message: string) => send(response, status, { errors: [{ field: null, message }] });
  if (request.method !== "GET") return errors(405, "method not allowed");
  if (key === "server-error") return errors(500, "Internal error");
  if (key === LIMITED_CREDENTIALS.sendgridNoMailSend) return send(response, 200, { scopes: ["stats.read", "user.profile.read"] });
  if (key !== PROVIDER_CREDENTIALS.sendgrid) return errors(401, "authorization required");
  return send(response, 200, { scopes: ["mail.send", "mail.batch.create", "mail.batch.read", "stats.read", "user.profile.read"] });
}

/** SendGrid v3 mail/send: https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send */
function sendgrid(request: IncomingMessage, body: Buffer, response: ServerResponse): number {
  const key = String(request.headers.authorization ?? "").replace(/^Bearer /, "");
  const errors = (status: number, message: string, field: string | null = null) => send(response, status, { errors: [{ message, field, help: null }] });
  if (key === "server-error") return errors(500, "Internal error");
  if (key === "rate-limited") return errors(429, "too many requests");
  if (key !== PROVIDER_CREDENTIALS.sendgrid) return errors(401, "The provided authorization grant is invalid, expired, or revoked");
  let email: Record<string, unknown>;
  try {
    email = JSON.parse(body.toString("utf8"));
  } catch {
    return errors(400, "Bad Request");
  }
  const personalizations = email.personalizations as { to?: { email?: string }[]; cc?: { email?: string }[]; bcc?: { email?: string }[] }[] | undefined;
  if (!Array.isArray(personalizations) || !personalizations.length)
    return errors(400, "The personalizations field is required and must have at least one personalization.", "personalizations");
  const seen = new Set<string>();
  for (const p of personalizations) {
    if (!p.to?.length)
      return errors(400, "The to array is required for all personalization objects, and must have at least one email object with a valid email address.", "personalizations.0.to");
    for (const r of [...p.to, ...(p.cc ?? []), ...(p.bcc ?? [])]) {
      const address = (r.email ?? "").toLowerCase();
      if (!ADDRESS.test(address)) return errors(400, "Does not contain a valid address.", "personalizations.0.to.0.email");
      if (seen.has(address)) return errors(400, "Each email address in the personalization block should be unique between to, cc, and bcc.", "personalizations.0");
      seen.add(address);
    }
  }
  const from = email.from as { email?: string } | undefined;
  if (!from?.email || !ADDRESS.test(from.email)) return errors(400, "The from object must be provided for every email send.", "from");
  if (typeof email.subject !== "string" || !email.subject) return errors(400, "The subject is required.", "subject");
  const content = email.content as { type?: string; value?: string }[] | undefined;
  if (!content?.length || content.some((c) => !c.value)) return errors(400, "The content value must be a string at least one character in length.", "content.0.value");
  if (content.length > 1 && content[0]!.type !== "text/plain") return errors(400, "The text/plain content type must be first.", "content.0.type");
  const reserved = ["x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"];
  for (const name of Object.keys((email.headers as object | undefined) ?? {})) {
    if (reserved.includes(name.toLowerCase())) return errors(400, "Header can not be one of the reserved keys.", `headers.${name}`);
  }
  for (const a of (email.attachments as Record<string, unknown>[] | undefined) ?? []) {
    if (typeof a.content !== "string" || !BASE64.test(a.content)) return errors(400, "The attachment content must be base64 encoded.", "attachments.0.content");
    if (typeof a.filename !== "string" || /[;,\r\n]/.test(a.filename))
      return errors(400, "The attachment filename is required and may not contain ; , CR or LF.", "attachments.0.filename");
  }
  if (body.length > 30_000_000) return errors(413, "content too large");
  return send(response, 202, "", { "X-Message-Id": randomUUID().replace(/-/g, "").slice(0, 22) });
}

export default async function setup(project: TestProject) {
  const tlsOptions = {
    key: readFileSync(process.env.MAILGATE_TEST_TLS_KEY!),
    cert: readFileSync(process.env.MAILGATE_TEST_TLS_CERT!),
  };
  const servers = await Promise.all([
    startSmtp("plain", { disabledCommands: ["STARTTLS"], authOptional: true, allowInsecureAuth: true }),
    startSmtp("starttls", { ...tlsOptions, authOptional: false }),
    startSmtp("tls", { ...tlsOptions, secure: true, authOptional: false }),
    startSmtp("nostarttls", { disabledCommands: ["STARTTLS"], authOptional: true, allowInsecureAuth: true }),
    startSmtp("nopipelining", { disabledCommands: ["STARTTLS"], authOptional: true, allowInsecureAuth: true, hidePIPELINING: true } as SMTPServerOptions),
    startSmtp("loginonly", { disabledCommands: ["STARTTLS"], authOptional: false, allowInsecureAuth: true, authMethods: ["LOGIN"] }),
    startSmtp("small", { disabledCommands: ["STARTTLS"], authOptional: true, allowInsecureAuth: true, size: 4096 }),
  ]);
  const hangup = await startHangup();
  const silent = await startSilent();

  const control = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const body = await readBody(request);
    const [, first, ...rest] = url.pathname.split("/");
    const subpath = `/${rest.join("/")}`;
    const record = (provider: string, status: number, raw?: string) => {
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch {
        parsed = null;
      }
      providerLog.push({ provider, method: request.method ?? "", path: subpath, headers: request.headers, body: parsed, ...(raw !== undefined && { raw }), status });
    };
    switch (first) {
      case "smtp": {
        // GET /smtp?to=address: what the SMTP servers received for that recipient, parsed by Python.
        const to = url.searchParams.get("to")?.toLowerCase();
        const items = smtpLog.filter((m) => !to || m.rcptTo.map((r) => r.toLowerCase()).includes(to));
        return send(
          response,
          200,
          items.map((m) => ({ ...m, python: url.searchParams.has("python") ? pythonParse(Buffer.from(m.raw, "latin1")) : undefined })),
        );
      }
      case "requests": {
        // GET /requests?provider=postmark&contains=text[&path=/server]: the provider requests whose body mentions the text (and to that path).
        const provider = url.searchParams.get("provider");
        const contains = url.searchParams.get("contains") ?? "";
        const path = url.searchParams.get("path");
        const items = providerLog.filter(
          (r) => (!provider || r.provider === provider) && (!path || r.path === path) && (JSON.stringify(r.body) + (r.raw ?? "")).includes(contains),
        );
        return send(
          response,
          200,
          items.map((r) => ({ ...r, python: r.raw !== undefined && url.searchParams.has("python") ? pythonParse(Buffer.from(r.raw, "latin1")) : undefined })),
        );
      }
      case "hooks":
        return hookEndpoint(request, body, response, rest.join("/"));
      case "postmark":
        return record("postmark", subpath === "/server" ? postmarkServer(request, response) : postmark(request, body, response));
      case "resend":
        return record("resend", subpath === "/domains" ? resendDomains(request, response) : resend(request, body, response));
      case "sendgrid":
        return record("sendgrid", subpath === "/v3/scopes" ? sendgridScopes(request, response) : sendgrid(request, body, response));
      case "ses": {
        const result = ses(request, body, response, subpath, url.pathname);
        return record("ses", result.status, result.raw);
      }
      case "mailgun": {
        if (subpath.startsWith("/v4/domains/")) return record("mailgun", mailgunDomain(request, response, subpath));
        const result = mailgun(request, body, response, subpath);
        return record("mailgun", result.status, result.raw);
      }
      default:
        return send(response, 404, { error: "unknown path" });
    }
  });
  await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", resolve));

  project.provide("mail", {
    smtp: Object.fromEntries([...servers, hangup, silent].map((s) => [s.name, s.port])),
    control: `http://127.0.0.1:${(control.address() as AddressInfo).port}`,
    credentials: PROVIDER_CREDENTIALS,
    smtpUser: SMTP_USER,
    smtpPassword: SMTP_PASSWORD,
  });
  return async () => {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.server.close(() => resolve()))));
    await new Promise<void>((resolve) => hangup.server.close(() => resolve()));
    for (const socket of silent.sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.server.close(() => resolve()));
    await new Promise<void>((resolve) => control.close(() => resolve()));
  };
}
