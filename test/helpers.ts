/**
 * Test helpers: drive the real Worker through its public entry points,
 * `email()`, `fetch()`, `queue()` and `scheduled()`, with the real local
 * D1, KV and R2 bindings.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { inject } from "vitest";
import type { Env } from "../src/env";
import deployed from "../src/index";
import type { Job } from "../src/queue/jobs";
import { createWorker } from "../src/worker";

export const ADMIN_TOKEN = "test-admin-token";

export type Worker = ReturnType<typeof createWorker>;

/**
 * What a helper drives: the Worker (default: the deployed one, on the
 * system clock) and its bindings (default: the real local ones). A
 * `clockedWorker()` is one.
 */
export interface Via {
  worker?: Worker;
  env?: Env;
}

export interface Clock {
  now(): number;
  /** Moves the clock on by `ms`. */
  advance(ms: number): void;
}

/**
 * A Worker on a clock of its own: the real time shifted to start at `start`
 * (default: now), moved on by `clock.advance`. Tests move time through the
 * entry points with it (mail arriving days later, a retry when it is due)
 * instead of rewriting stored times. Pass it as a helper's `via`.
 */
export function clockedWorker(start = Date.now()): { worker: Worker; clock: Clock } {
  let offset = start - Date.now();
  const clock: Clock = {
    now: () => Date.now() + offset,
    advance: (ms) => {
      offset += ms;
    },
  };
  return { worker: createWorker({ now: clock.now }), clock };
}

type Method = (...args: any[]) => any;

/**
 * `bindings` with one binding's methods wrapped, as a fault or a spy: each
 * wrapper gets the real method (bound) and the call's arguments. The
 * binding's other methods reach the real one, or, with `only`, fail (so
 * nothing goes past a counting test uncounted).
 */
export function withBinding(bindings: Env, name: keyof Env, methods: Record<string, (real: Method, ...args: any[]) => unknown>, options: { only?: boolean } = {}): Env {
  const binding = bindings[name] as object;
  const proxy = new Proxy(binding, {
    get(object, property) {
      const value = Reflect.get(object, property);
      if (typeof value !== "function") return value;
      const real = value.bind(object) as Method;
      const wrapper = typeof property === "string" ? methods[property] : undefined;
      if (wrapper) return (...args: unknown[]) => wrapper(real, ...args);
      if (!options.only) return real;
      return () => {
        throw new Error(`${name}.${String(property)}: not expected by this test`);
      };
    },
  });
  return { ...bindings, [name]: proxy };
}

const encoder = new TextEncoder();

let counter = 0;
/** A unique token for names, so tests sharing one file's storage never collide. */
export function unique(prefix = "t"): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter}${Math.random().toString(36).slice(2, 6)}`;
}

export type HeaderMap = Record<string, string | string[] | null | undefined>;

/**
 * A message in RFC 5322 form with CRLF line ends. `Message-ID` and `Date`
 * are added unless given (pass null to leave a header out).
 */
export function mime(headers: HeaderMap, body = "Hello,\r\n\r\nThis is a test.\r\n"): string {
  const all: HeaderMap = { "Message-ID": `<${unique("m")}@sender.example>`, Date: "Sat, 21 Nov 2026 10:00:00 +0000", ...headers };
  let text = "";
  for (const [name, value] of Object.entries(all)) {
    if (value === null || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) text += `${name}: ${v}\r\n`;
  }
  return `${text}\r\n${body}`;
}

/** The Message-ID of a message built by `mime` (or any raw message). */
export function messageIdOf(raw: string): string {
  return /^Message-ID: (.*)$/im.exec(raw)![1]!.trim();
}

export interface DeliveryInput {
  from?: string;
  to: string;
  raw: string | Uint8Array;
  /** Split the raw stream into chunks of this size (default: one chunk). */
  chunkSize?: number;
  canBeForwarded?: boolean;
  /** Make `forward()` throw for these destinations. */
  failForwardTo?: string[];
}

export interface DeliveryResult {
  /** The reason given to `setReject`, or null. */
  rejected: string | null;
  forwards: { to: string; headers: Record<string, string> }[];
  /** What the handler threw (a temporary SMTP failure), or null. */
  error: unknown;
}

function chunkedStream(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

/**
 * Hands a message to the Worker's `email()` handler as Cloudflare Email
 * Routing would: one envelope recipient, the raw stream, and the
 * setReject/forward methods, which record what the handler did.
 */
export async function deliver(input: DeliveryInput, via: Via = {}): Promise<DeliveryResult> {
  const { worker = deployed, env: bindings = env } = via;
  const bytes = typeof input.raw === "string" ? encoder.encode(input.raw) : input.raw;
  const result: DeliveryResult = { rejected: null, forwards: [], error: null };
  const message = {
    from: input.from ?? "sender@sender.example",
    to: input.to,
    headers: new Headers(),
    raw: chunkedStream(bytes, input.chunkSize ?? Math.max(1, bytes.byteLength)),
    rawSize: bytes.byteLength,
    canBeForwarded: input.canBeForwarded ?? true,
    setReject(reason: string) {
      result.rejected = reason;
    },
    async forward(rcptTo: string, headers?: Headers) {
      if (input.failForwardTo?.includes(rcptTo)) throw new Error(`destination ${rcptTo} unavailable`);
      result.forwards.push({ to: rcptTo, headers: Object.fromEntries(headers ?? []) });
      return { messageId: `<${unique("fwd")}@forward.example>` };
    },
    async reply() {
      throw new Error("mailgate never replies inside the email event");
    },
  } as unknown as ForwardableEmailMessage;
  try {
    await worker.email(message, bindings);
  } catch (error) {
    result.error = error;
  }
  return result;
}

/** The outcome as the sending server would see it. */
export function smtpOutcome(result: DeliveryResult): "accepted" | "rejected" | "temporary_failure" {
  if (result.error) return "temporary_failure";
  return result.rejected === null ? "accepted" : "rejected";
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** Calls the HTTP API through the Worker's `fetch()` with the admin token (or `token`). */
export async function api<T = any>(
  method: string,
  path: string,
  body?: unknown,
  token: string | null = ADMIN_TOKEN,
  extraHeaders: Record<string, string> = {},
  via: Via = {},
): Promise<ApiResponse<T>> {
  const { worker = deployed, env: bindings = env } = via;
  const headers: Record<string, string> = { ...extraHeaders };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(path.startsWith("https://") ? path : `https://mailgate.test${path}`, { method, headers, body: payload }), bindings, ctx);
  await waitOnExecutionContext(ctx);
  const text = new TextDecoder().decode(await response.arrayBuffer());
  let parsed: unknown = text;
  if (response.headers.get("Content-Type")?.includes("json")) parsed = JSON.parse(text);
  return { status: response.status, body: parsed as T, headers: response.headers };
}

/** Like `api`, but fails the test unless the status is the expected one. */
export async function ok<T = any>(method: string, path: string, body?: unknown, status = 200, via: Via = {}): Promise<T> {
  const response = await api<T>(method, path, body, ADMIN_TOKEN, {}, via);
  if (response.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body;
}

/** A fresh domain with the given aliases (`{ name, ...fields }`). */
export async function setupDomain(fields: Record<string, unknown> = {}): Promise<string> {
  const domain = `${unique("d")}.example.com`;
  await ok("PUT", `/v1/domains/${domain}`, { company_name: "Acme", ...fields }, 201);
  return domain;
}

export async function createAlias(fields: Record<string, unknown>): Promise<any> {
  return ok("POST", "/v1/aliases", { destinations: [{ type: "store" }], contact: "everyone", ...fields }, 201);
}

/** Every message recorded for a Message-ID (newest first), as the API lists them. */
export async function messagesFor(messageId: string): Promise<any[]> {
  const list = await ok<{ items: any[] }>("GET", `/v1/messages?message_id=${encodeURIComponent(messageId)}&limit=200`);
  return list.items;
}

/** The newest message recorded for a Message-ID (and recipient), with its deliveries and events. */
export async function findMessage(messageId: string, rcptTo?: string): Promise<any> {
  const item = (await messagesFor(messageId)).find((m) => rcptTo === undefined || m.rcpt_to === rcptTo);
  if (!item) throw new Error(`no message recorded for ${messageId}`);
  return ok("GET", `/v1/messages/${item.id}`);
}

/** Runs `body` with some settings changed, then puts the previous settings back. */
export async function withSettings<T>(changes: Record<string, unknown>, body: () => Promise<T>): Promise<T> {
  const previous = await ok("GET", "/v1/settings");
  await ok("PUT", "/v1/settings", changes);
  try {
    return await body();
  } finally {
    await ok("PUT", "/v1/settings", previous);
  }
}

/** Runs the queue consumer on jobs of one kind for these ids, as Queues would deliver them. */
export async function runJobs(kind: Job["kind"], ids: string[], options: { attempts?: number; queue?: string } & Via = {}) {
  const { attempts = 1, queue = "mailgate-jobs", worker = deployed, env: bindings = env } = options;
  const { createMessageBatch, getQueueResult } = await import("cloudflare:test");
  const batch = createMessageBatch<Job>(
    queue,
    ids.map((id, i) => ({ id: `job-${id}-${attempts}-${i}`, timestamp: Date.now(), attempts, body: { kind, id } })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, bindings);
  const result = await getQueueResult(batch, ctx);
  return {
    acked: result.explicitAcks.map((a) => a.replace(/^job-|-\d+-\d+$/g, "")),
    retried: result.retryMessages.map((r) => ({ id: r.msgId.replace(/^job-|-\d+-\d+$/g, ""), delaySeconds: r.delaySeconds })),
  };
}

/** Runs the cron trigger (the sweepers) at the clock's time, as Cloudflare would. */
export async function runScheduled(at: { worker: Worker; clock: Clock }, bindings: Env = env): Promise<void> {
  await at.worker.scheduled(createScheduledController({ scheduledTime: at.clock.now(), cron: "*/5 * * * *" }), bindings);
}

/** Runs the queue consumer on send jobs for these message ids. */
export function runSendJobs(ids: string[], attempts = 1, queue = "mailgate-jobs") {
  return runJobs("send", ids, { attempts, queue });
}

/**
 * `env` whose job queue records the ids of the jobs handed to it and takes
 * none of them: it refuses them when `down`, as an outage would.
 */
export function queueSpy(options: { down?: boolean } = {}): { env: Env; ids: string[] } {
  const ids: string[] = [];
  const take = async (jobs: Job[]) => {
    ids.push(...jobs.map((job) => job.id));
    if (options.down) throw new Error("queue unavailable");
  };
  return { ids, env: withBinding(env, "JOBS", { send: (_real, job: Job) => take([job]), sendBatch: (_real, batch: { body: Job }[]) => take(batch.map((m) => m.body)) }) };
}

/** Sends through the API and runs the queue consumer once; returns the message as the API shows it. */
export async function sendAndDeliver(body: Record<string, unknown>, token: string | null = ADMIN_TOKEN, via: Via = {}): Promise<{ answer: any; message: any }> {
  const answer = await send(body, token, via);
  await runJobs("send", [answer.id], via);
  return { answer, message: await ok("GET", `/v1/messages/${answer.id}`, undefined, 200, via) };
}

/**
 * Disables every relay there is, then creates these: relay choice is over
 * all enabled relays. Relays without a type are SMTP relays nobody connects
 * to (the tests that use them only look at the choice).
 */
export async function onlyRelays(specs: Record<string, unknown>[]): Promise<any[]> {
  const existing = await ok<{ items: any[] }>("GET", "/v1/relays");
  for (const relay of existing.items) if (relay.enabled) await ok("PATCH", `/v1/relays/${relay.id}`, { enabled: false });
  const created = [];
  for (const spec of specs) {
    const defaults = spec.type && spec.type !== "smtp" ? {} : { type: "smtp", config: { host: "127.0.0.1", port: 2525, security: "none" } };
    created.push(await ok("POST", "/v1/relays", { ...defaults, ...spec }, 201));
  }
  return created;
}

/** Sends through the API (202 expected) without running the queue. */
export async function send(body: Record<string, unknown>, token: string | null = ADMIN_TOKEN, via: Via = {}): Promise<any> {
  const sent = await api("POST", "/v1/messages", body, token, {}, via);
  if (sent.status !== 202) throw new Error(`send: expected 202, got ${sent.status}: ${JSON.stringify(sent.body)}`);
  return sent.body;
}

/** What the loopback SMTP servers received for this recipient, each also read by Python's parser (`python`). */
export async function smtpReceived(to: string): Promise<any[]> {
  return (await fetch(`${inject("mail").control}/smtp?python&to=${encodeURIComponent(to)}`)).json();
}

/** What the real Postfix on loopback delivered for this address (test/node/postfix.ts), waiting up to `wait` ms for the first copy. */
export async function postfixDelivered(to: string, wait = 5000): Promise<any[]> {
  return (await fetch(`${inject("postfix").control}/delivered?to=${encodeURIComponent(to)}&wait=${wait}`)).json();
}

/** Every value of a header in a message Postfix delivered. */
export function headerValues(message: { headers: [string, string][] }, name: string): string[] {
  return message.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

type PostfixService = keyof ReturnType<typeof inject<"postfix">>["ports"];
/** The loopback SMTP servers: npm smtp-server's (test/node/mail-servers.ts) by name, and the real Postfix's services (test/node/postfix.ts). */
export type SmtpTarget = "plain" | "starttls" | "tls" | "nostarttls" | "nopipelining" | "loginonly" | "small" | "hangup" | "silent" | `postfix:${PostfixService}`;

/**
 * An `smtp` relay (for `onlyRelays` or POST /v1/relays) to a server on
 * loopback, with the security that server speaks: smtp-server's `plain`,
 * `starttls`, `tls`, `nostarttls`, `nopipelining`, `loginonly`, `small`,
 * `hangup`, `silent`, or Postfix's
 * `postfix:plain` (no TLS), `postfix:starttls`, `postfix:tls`,
 * `postfix:untrusted`, `postfix:wrongname`, `postfix:implicit_untrusted`.
 * `fields` and `config` add to or override the relay's and its config's.
 */
export function smtpRelay(target: SmtpTarget, fields: Record<string, unknown> = {}, config: Record<string, unknown> = {}) {
  let port: number;
  let security: "none" | "starttls" | "tls";
  if (target.startsWith("postfix:")) {
    const service = target.slice("postfix:".length) as PostfixService;
    port = inject("postfix").ports[service];
    security = service === "plain" ? "none" : service === "tls" || service === "implicit_untrusted" ? "tls" : "starttls";
  } else {
    port = inject("mail").smtp[target]!;
    security = target === "tls" ? "tls" : target === "starttls" ? "starttls" : "none";
  }
  return { name: `${target} ${unique()}`, type: "smtp", ...fields, config: { host: "127.0.0.1", port, security, ...config } };
}
