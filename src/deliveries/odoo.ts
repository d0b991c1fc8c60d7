/**
 * Hands a message to an Odoo database through its external API, as
 * Odoo's own `odoo-mailgate.py` does: `/xmlrpc/2/common` `authenticate(db,
 * login, api_key, {})` for the user id, then `/xmlrpc/2/object`
 * `execute_kw(db, uid, api_key, "mail.thread", "message_process", [model,
 * message], { custom_values, save_original, strip_attachments, thread_id })`.
 * The message goes exactly as received, as an XML-RPC `<base64>` value
 * (odoo-mailgate.py sends `xmlrpclib.Binary`: as a string, XML would turn
 * its CRLF into LF), streamed from R2 so a 25 MiB message is never whole in
 * memory. Odoo answers the id of the record the mail went to (stored on the
 * delivery), or false when it kept no record (a Message-ID it already has,
 * a bounce, a loop).
 *
 * What counts as what follows odoo-mailgate.py: no connection, HTTP 408,
 * 429, 500, 502, 503, 504 or no answer within 60 s: retried (Odoo down or
 * restarting). A fault is Odoo's answer and will be the same next time
 * (Access Denied, no route for the message, an unknown model...): failed at
 * once with Odoo's message, the traceback trimmed to its last line; only
 * the database's own transient errors (a serialization failure, a lost
 * connection) are retried. `authenticate` answering false (a wrong login or
 * API key) fails too.
 */
import { eq } from "drizzle-orm";
import { destinationTarget, odooEndpoint, odooUrlProblem } from "../aliases/rules";
import type { Db } from "../db/client";
import { aliases, deliveries, messages } from "../db/schema";
import type { Env } from "../env";
import { concatBytes, toBase64 } from "../mail/bytes";
import type { Destination } from "../model";
import { MissingSecretsKey, unseal } from "../secrets";
import { type DeliveryOutcome, type DeliveryRow, failed, type Handled } from "./types";
import { bodyStart } from "./webhook";
import { allowsPrivateTargets } from "./webhook-url";
import { decodeMethodResponse, encodeMethodCall, MAX_RESPONSE_CHARS, StreamedBase64, type XmlRpcValue } from "./xmlrpc";

/** odoo-mailgate.py's default: a stalled Odoo must not hold the delivery forever. */
const ODOO_TIMEOUT_MS = 60_000;
/** odoo-mailgate.py's RETRYABLE_HTTP_STATUSES, plus 408 (the request timed out on the way). */
const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
/** How much of an error text is kept on the attempt. */
const ERROR_CHARS = 500;

type OdooDestination = Extract<Destination, { type: "odoo" }>;

/** What one XML-RPC call came to. */
type Call =
  | { kind: "value"; value: XmlRpcValue }
  | { kind: "fault"; code: number | string; message: string }
  | { kind: "http"; status: number; excerpt: string; location: string | null }
  | { kind: "unreachable"; error: string }
  | { kind: "timeout" }
  | { kind: "malformed"; reason: string };

/** The two calls of a delivery, for the texts. */
type Step = "authenticate" | "message_process";

/**
 * The `odoo` delivery handler (src/deliveries/run.ts). Odoo's failures are
 * outcomes; it throws only for our own (D1, R2, a missing SECRETS_KEY),
 * which the queue retries.
 */
export async function deliverToOdoo(env: Env, db: Db, delivery: DeliveryRow, _now: number): Promise<Handled> {
  const [messageRows, aliasRows] = await db.batch([
    db.select({ id: messages.id, rawKey: messages.rawKey, erasedAt: messages.erasedAt }).from(messages).where(eq(messages.id, delivery.messageId)),
    db
      .select({ destinations: aliases.destinations })
      .from(aliases)
      .where(eq(aliases.id, delivery.aliasId ?? "")),
  ]);
  const message = messageRows[0];
  const alias = aliasRows[0];
  if (!message || message.erasedAt) return failed("the message was erased");
  if (!message.rawKey) return failed("the raw message is no longer stored (retention)");
  if (!alias) return failed("the alias no longer exists");
  // A database the alias dropped meanwhile gets nothing more (it may have been dropped for a reason).
  const destination = alias.destinations.find((d): d is OdooDestination => d.type === "odoo" && destinationTarget(d) === delivery.target);
  if (!destination) return failed("no longer an Odoo destination of the alias");
  // Checked again: ALLOW_PRIVATE_WEBHOOKS may have changed since the alias was saved.
  const urlProblem = odooUrlProblem(destination.url, allowsPrivateTargets(env));
  if (urlProblem) return failed(`the Odoo URL ${urlProblem}`);

  let apiKey: string;
  try {
    apiKey = await unseal<string>(env.SECRETS_KEY, destination.api_key, "odoo-api-keys");
  } catch (error) {
    if (error instanceof MissingSecretsKey) throw error;
    return failed("the stored API key cannot be opened (SECRETS_KEY changed?): give the destination its api_key again");
  }

  const login = await call(odooEndpoint(destination.url, "common"), encodeMethodCall("authenticate", [destination.db, destination.login, apiKey, {}]));
  if (login.kind !== "value") return { outcome: outcomeOf("authenticate", login) };
  if (login.value === false) return failed(`Odoo refused the login ${destination.login} on database ${destination.db}: wrong login or API key (authenticate answered false)`);
  if (typeof login.value !== "number" || login.value < 1)
    return { outcome: { result: "retry", statusCode: 200, error: `authenticate answered ${describe(login.value)}, not a user id` } };
  const uid = login.value;

  const object = await env.RAW.get(message.rawKey);
  if (!object) throw new Error(`message ${message.id}: raw MIME missing in R2`);
  const parts = encodeMethodCall("execute_kw", [
    destination.db,
    uid,
    apiKey,
    "mail.thread",
    "message_process",
    [destination.model ?? false, new StreamedBase64(object.size)],
    // message_process's keyword arguments; nil is Python's None, their default.
    { custom_values: null, save_original: destination.save_original ?? false, strip_attachments: destination.strip_attachments ?? false, thread_id: destination.thread_id ?? null },
  ]);
  const processed = await call(odooEndpoint(destination.url, "object"), parts, object);
  if (processed.kind !== "value") return { outcome: outcomeOf("message_process", processed) };
  // An id: the record the mail went to. False: Odoo kept no record (a Message-ID it has already, a bounce it counted, a loop).
  const recordId = typeof processed.value === "number" && Number.isInteger(processed.value) && processed.value > 0 ? processed.value : null;
  return {
    outcome: { result: "delivered", statusCode: 200, error: null, detail: { record_id: recordId, ...(recordId === null && { odoo_answer: describe(processed.value) }) } },
    statements: recordId === null ? [] : [db.update(deliveries).set({ recordId }).where(eq(deliveries.id, delivery.id))],
  };
}

/** Every call that did not answer a value, as the delivery's outcome: one mapping. */
function outcomeOf(step: Step, result: Exclude<Call, { kind: "value" }>): DeliveryOutcome {
  switch (result.kind) {
    case "fault": {
      const message = lastLine(result.message);
      const text = `${step}: Odoo fault ${result.code}: ${message}`.slice(0, ERROR_CHARS);
      return { result: isTransientFault(result.code, message) ? "retry" : "failed", statusCode: 200, error: text, detail: { fault_code: result.code } };
    }
    case "http": {
      const text = `${step}: HTTP ${result.status}${result.location ? ` to ${result.location} (redirects are not followed: give the URL Odoo answers at)` : ""}${result.excerpt ? `: ${result.excerpt}` : ""}`;
      return { result: RETRYABLE_STATUSES.has(result.status) ? "retry" : "failed", statusCode: result.status, error: text.slice(0, ERROR_CHARS) };
    }
    case "unreachable":
      return { result: "retry", statusCode: null, error: `${step}: ${result.error}`.slice(0, ERROR_CHARS) };
    case "timeout":
      return { result: "retry", statusCode: null, error: `${step}: no answer from Odoo within ${ODOO_TIMEOUT_MS / 1000} s` };
    case "malformed":
      // Something answered that is not Odoo's XML-RPC (a proxy's page while Odoo restarts): tried again.
      return { result: "retry", statusCode: 200, error: `${step}: not an XML-RPC answer (${result.reason})`.slice(0, ERROR_CHARS) };
  }
}

/**
 * Odoo sends an application error (code 1) with the Python traceback as
 * its text: the last line is the exception and its message
 * ("ValueError: No possible route found for incoming message ...").
 */
function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim());
  return lines.filter(Boolean).at(-1) ?? "(no message)";
}

/**
 * The faults worth trying again: the database's own passing troubles
 * (Odoo retries serialization failures itself a few times, then gives up;
 * a lost connection to PostgreSQL). An unknown database stays unknown.
 */
function isTransientFault(code: number | string, message: string): boolean {
  if (code !== 1) return false;
  if (/database .* does not exist/.test(message)) return false;
  return /^(?:psycopg2\.(?:OperationalError|InterfaceError|errors\.(?:SerializationFailure|DeadlockDetected|LockNotAvailable|AdminShutdown|CannotConnectNow))|odoo\.exceptions\.ConcurrencyError|MemoryError)\b/.test(
    message,
  );
}

function describe(value: XmlRpcValue): string {
  if (value === null) return "nil";
  if (value instanceof Uint8Array) return "base64";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "a struct";
  return JSON.stringify(value);
}

const encoder = new TextEncoder();

/**
 * POSTs a call, its parts joined by the message as base64 when there is
 * one, with the exact length (Odoo's server, and Python's, read the body
 * by Content-Length). Redirects are not followed: they could lead past
 * the address check.
 */
async function call(url: string, parts: string[], raw?: R2ObjectBody): Promise<Call> {
  const body = raw ? streamedBody(parts, raw) : { stream: parts.join(""), abort: () => {} };
  try {
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        body: body.stream,
        redirect: "manual",
        signal: AbortSignal.timeout(ODOO_TIMEOUT_MS),
        headers: { "Content-Type": "text/xml", "User-Agent": "mailgate-odoo/1" },
      });
    } catch (error) {
      return failure(error);
    }
    let text: string;
    try {
      // More than the limit is not Odoo's answer: the decoder refuses it as malformed.
      text = await bodyStart(response, MAX_RESPONSE_CHARS + 1);
    } catch (error) {
      return failure(error, "the answer was cut off: ");
    }
    const ok = response.status >= 200 && response.status < 300;
    const decoded = decodeMethodResponse(text);
    // Odoo answers a fault with 200; a fault with an error status is still the fault it is.
    if (ok || decoded.kind === "fault") return decoded;
    const location = response.status >= 300 && response.status < 400 ? response.headers.get("Location") : null;
    return { kind: "http", status: response.status, excerpt: text.slice(0, 300).trim(), location };
  } finally {
    // Done with the request: a body the server did not read to the end lets go of the R2 stream.
    body.abort(new Error("request finished"));
  }
}

function failure(error: unknown, prefix = ""): Call {
  if (error instanceof Error && error.name === "TimeoutError") return { kind: "timeout" };
  return { kind: "unreachable", error: prefix + (error instanceof Error ? `${error.name}: ${error.message}` : String(error)) };
}

/** The call's parts with the raw message as base64 between them, as a stream of known length. */
function streamedBody(parts: string[], raw: R2ObjectBody): { stream: ReadableStream; abort: (reason: unknown) => void } {
  const [head, tail] = [encoder.encode(parts[0]!), encoder.encode(parts[1]!)];
  const { readable, writable } = new FixedLengthStream(head.byteLength + new StreamedBase64(raw.size).encodedLength + tail.byteLength);
  const writer = writable.getWriter();
  const reader = raw.body.getReader();
  const abort = (reason: unknown) => {
    reader.cancel().catch(() => {});
    writer.abort(reason).catch(() => {});
  };
  (async () => {
    await writer.write(head);
    // Base64 works on groups of 3 bytes: what is left of a chunk waits for the next one.
    let carry = new Uint8Array(0);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const bytes = carry.byteLength ? concatBytes([carry, value]) : value;
      const whole = bytes.byteLength - (bytes.byteLength % 3);
      if (whole) await writer.write(encoder.encode(toBase64(bytes.subarray(0, whole))));
      carry = bytes.slice(whole);
    }
    if (carry.byteLength) await writer.write(encoder.encode(toBase64(carry)));
    await writer.write(tail);
    await writer.close();
  })().catch(abort);
  return { stream: readable, abort };
}
