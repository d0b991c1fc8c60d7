/**
 * `/v1/relays`: outgoing servers (Odoo's `ir.mail_server`). Credentials are
 * write-only: sealed with SECRETS_KEY before they reach D1, and never
 * returned, logged or echoed in errors.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client";
import { domains, relays, suppressions } from "../db/schema";
import { allowsPrivateTargets, checkWebhookUrl } from "../deliveries/webhook-url";
import type { Env } from "../env";
import { newId } from "../ids";
import { domainOf, normalizeAddress } from "../mail/address";
import { formatMailbox } from "../mail/mime-header";
import { parseMessage } from "../mail/parse";
import type { RelayType } from "../model";
import { forgetAccessToken, OAuthSettings, tokenOwner } from "../oauth";
import { probeRelay, sendThrough } from "../outbound/relays";
import { DEFAULT_MAX_SIZE, JSON_SECRETS, RELAY_TYPES, type RelayRow, SECRET_FIELDS } from "../outbound/relays/settings";
import { composeTestMessage, testMessageId, testOutcome, testSender } from "../outbound/relays/test-message";
import { MissingSecretsKey, seal, unseal } from "../secrets";
import { EVERY_STREAM } from "../suppressions";
import { router } from "./context";
import { ApiError, notFound } from "./errors";
import { DomainName, EmailAddress, errorResponses, firstIssue, iso, json, jsonBody, MailboxInput, security, Timestamp, unprocessableResponse } from "./schemas";

const Secret = z.string().min(1).max(4096);
const BaseUrl = z
  .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
  .max(500)
  .transform((u) => u.replace(/\/+$/, ""));

/** Settings every relay type has. */
const common = {
  fixed_sender: EmailAddress.optional().openapi({ description: "The relay only accepts this sender: From and envelope become it, the author's name kept, the author in Reply-To" }),
  max_size: z
    .number()
    .int()
    .min(1024)
    .max(100 * 1024 * 1024)
    .optional()
    .openapi({ description: "Largest composed message in bytes (defaults to the service's documented limit)" }),
};

/**
 * How each provider's event webhooks (`POST /hooks/relays/{id}`) are
 * verified: sealed with the credentials, never returned.
 */
const EventsConfig = {
  postmark: z.strictObject({ username: z.string().min(1).max(200), password: Secret }).openapi({ description: "The basic-auth credentials in the webhook URL you give Postmark" }),
  resend: z.strictObject({ secret: z.string().regex(/^whsec_[A-Za-z0-9+/=]+$/, "must be Resend's signing secret (whsec_…)") }),
  ses: z.strictObject({
    certificate: z.string().max(20_000).includes("-----BEGIN CERTIFICATE-----", { message: "must be the PEM of the SNS signing certificate" }),
  }),
  mailgun: z.strictObject({ signing_key: Secret }),
  sendgrid: z.strictObject({ public_key: z.string().min(40).max(1000).openapi({ description: "The signed event webhook's verification key (base64)" }) }),
};

const CONFIG_SCHEMAS = {
  cloudflare: z.strictObject({ ...common }),
  smtp: z.strictObject({
    ...common,
    host: z.string().min(1).max(253),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .refine((p) => p !== 25, "port 25 is blocked by Cloudflare for outbound connections; use 465 (TLS) or 587 (STARTTLS)"),
    security: z
      .enum(["tls", "starttls", "none"])
      .openapi({ description: "tls: implicit TLS (465); starttls: STARTTLS required (587, 2525); none: plaintext, for local testing only" }),
    username: z.string().min(1).max(320).optional(),
    password: Secret.optional(),
    oauth: OAuthSettings.optional().openapi({
      description: "Write-only, instead of password: log in as username with SASL XOAUTH2 (Gmail, Microsoft 365), with access tokens got from this OAuth client and refresh token",
    }),
    helo: z.string().min(1).max(253).optional().openapi({ description: "EHLO name (defaults to the domain of the From being sent)" }),
    timeout_ms: z.number().int().min(1000).max(300_000).optional(),
  }),
  postmark: z.strictObject({
    ...common,
    server_token: Secret,
    message_stream: z.string().min(1).max(100).optional(),
    base_url: BaseUrl.optional(),
    events: EventsConfig.postmark.optional(),
  }),
  resend: z.strictObject({ ...common, api_key: Secret, base_url: BaseUrl.optional(), events: EventsConfig.resend.optional() }),
  ses: z.strictObject({
    ...common,
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as eu-west-1"),
    access_key_id: z.string().min(16).max(128),
    secret_access_key: Secret,
    session_token: Secret.optional(),
    configuration_set: z.string().min(1).max(64).optional(),
    base_url: BaseUrl.optional(),
    events: EventsConfig.ses.optional(),
  }),
  mailgun: z.strictObject({
    ...common,
    domain: DomainName,
    api_key: Secret,
    region: z.enum(["us", "eu"]).optional(),
    base_url: BaseUrl.optional(),
    events: EventsConfig.mailgun.optional(),
  }),
  sendgrid: z.strictObject({ ...common, api_key: Secret, base_url: BaseUrl.optional(), events: EventsConfig.sendgrid.optional() }),
} satisfies Record<RelayType, z.ZodType>;

/**
 * Odoo's `from_filter`: comma-separated domains and addresses. Normalized:
 * domains and addresses in canonical form (lowercase, IDN in punycode),
 * entries checked one by one.
 */
const FromFilter = z
  .string()
  .max(2000)
  .transform((value, ctx) => {
    const parts: string[] = [];
    for (const raw of value
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean)) {
      const part = (raw.includes("@") ? EmailAddress : DomainName).safeParse(raw);
      if (!part.success) {
        ctx.addIssue({ code: "custom", message: firstIssue(part.error) });
        return z.NEVER;
      }
      parts.push(part.data);
    }
    return parts.length ? parts.join(",") : null;
  })
  .openapi({ type: "string", example: "example.com,notifications@example.org" });

const relayFields = {
  name: z.string().trim().min(1).max(200),
  from_filter: FromFilter.nullable().optional(),
  sequence: z.number().int().min(0).max(1_000_000).optional(),
  stream: z.enum(["transactional", "mass"]).optional(),
  daily_limit: z.number().int().min(1).max(10_000_000).nullable().optional(),
  enabled: z.boolean().optional(),
};

const CreateRelayBody = z
  .strictObject({ ...relayFields, type: z.enum(RELAY_TYPES), config: z.record(z.string(), z.unknown()).default({}) })
  .openapi("CreateRelay", { description: "config depends on type: see the README's relay table" });

const PatchRelayBody = z.strictObject({
  name: relayFields.name.optional(),
  from_filter: relayFields.from_filter,
  sequence: relayFields.sequence,
  stream: relayFields.stream,
  daily_limit: relayFields.daily_limit,
  enabled: relayFields.enabled,
  config: z.record(z.string(), z.unknown()).optional().openapi({
    description:
      "Merged into the settings (RFC 7396): a field given replaces, null removes, left out keeps; credentials must be given again when host, port, security or base_url change",
  }),
});

const RelaySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    type: z.enum(RELAY_TYPES),
    from_filter: z.string().nullable(),
    sequence: z.number().int(),
    stream: z.enum(["transactional", "mass"]),
    daily_limit: z.number().int().nullable(),
    enabled: z.boolean(),
    config: z.record(z.string(), z.unknown()).openapi({ description: "Settings without credentials" }),
    secrets_set: z.array(z.string()).openapi({ description: "Which credentials are stored (never their values)" }),
    max_size: z.number().int(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Relay");

async function relayOut(env: Env, row: RelayRow): Promise<z.infer<typeof RelaySchema>> {
  const secrets = row.secrets ? Object.keys(await unseal(env.SECRETS_KEY, row.secrets)) : [];
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    from_filter: row.fromFilter,
    sequence: row.sequence,
    stream: row.stream,
    daily_limit: row.dailyLimit,
    enabled: row.enabled,
    config: row.config,
    secrets_set: secrets.sort(),
    max_size: typeof row.config.max_size === "number" ? row.config.max_size : DEFAULT_MAX_SIZE[row.type],
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

/** Settings that say where a relay connects: stored credentials never follow a change of these. */
const CONNECTION_FIELDS = ["host", "port", "security", "base_url"] as const;

/** Validates a type's settings and splits them into what is stored plainly and what is sealed. */
async function splitConfig(env: Env, type: RelayType, input: Record<string, unknown>) {
  const secretNames = SECRET_FIELDS[type];
  const parsed = CONFIG_SCHEMAS[type].safeParse(input);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${["config", ...i.path].join(".")}: ${i.message}`).join("; ");
    throw new ApiError("invalid_request", `invalid body: ${detail}`);
  }
  const config: Record<string, unknown> = {};
  const secrets: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed.data as Record<string, unknown>)) {
    if (value === undefined) continue;
    // Sealed values are strings: the events settings (an object) go as JSON.
    if (secretNames.includes(name)) secrets[name] = typeof value === "string" ? value : JSON.stringify(value);
    else config[name] = value;
  }
  if (type === "smtp" && secrets.password && secrets.oauth) throw new ApiError("invalid_request", "invalid body: config.oauth: a relay logs in with a password or OAuth, not both");
  if (type === "smtp" && secrets.oauth && !config.username)
    throw new ApiError("invalid_request", "invalid body: config.username: required with config.oauth (the account XOAUTH2 logs in as)");
  if (type === "smtp" && config.username && !secrets.password && !secrets.oauth) {
    throw new ApiError("invalid_request", "invalid body: config.password: required with config.username (or config.oauth)");
  }
  // A provider's API address gets the webhook rules: https, and never a private or internal host (SSRF).
  if (typeof config.base_url === "string") {
    const checked = checkWebhookUrl(config.base_url, allowsPrivateTargets(env));
    if (!checked.ok) throw new ApiError("invalid_request", `invalid body: config.base_url: the URL ${checked.reason}`);
  }
  try {
    return { config, secrets: Object.keys(secrets).length ? await seal(env.SECRETS_KEY, secrets) : null };
  } catch (error) {
    if (error instanceof MissingSecretsKey) throw new ApiError("internal_error", error.message);
    throw error;
  }
}

/**
 * A PATCH's `config` over the stored settings, as a JSON merge patch (RFC
 * 7396): a field given replaces, `null` removes, a field left out keeps its
 * value, credentials included. When the relay would connect somewhere else
 * (host, port, security, base_url), every stored credential must be given
 * again (or removed with null): credentials are never sent to a new place.
 */
/** Sealed settings as the config schemas take them: the events and OAuth settings back from JSON. */
function openedSecrets(sealed: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(sealed).map(([name, value]) => [name, JSON_SECRETS.includes(name) ? JSON.parse(value) : value]));
}

function mergeConfig(current: Record<string, unknown>, storedSecrets: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const moved = CONNECTION_FIELDS.filter((field) => field in patch && JSON.stringify(patch[field]) !== JSON.stringify(current[field]));
  const missing = Object.keys(storedSecrets).filter((name) => !(name in patch));
  if (moved.length && missing.length) {
    throw new ApiError(
      "invalid_request",
      `invalid body: ${missing.map((n) => `config.${n}`).join(", ")}: required again when ${moved.map((f) => `config.${f}`).join(", ")} changes (stored credentials are never sent to a new destination)`,
    );
  }
  const merged: Record<string, unknown> = { ...current, ...storedSecrets };
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) delete merged[name];
    else merged[name] = value;
  }
  return merged;
}

const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });

async function findRelay(db: Db, id: string): Promise<RelayRow> {
  const row = await db.select().from(relays).where(eq(relays.id, id)).get();
  if (!row) throw notFound(`relay ${id}`);
  return row;
}

export const relaysApi = router();

relaysApi.openapi(
  createRoute({
    method: "post",
    path: "/relays",
    tags: ["relays"],
    summary: "Create a relay",
    security,
    request: { body: jsonBody(CreateRelayBody) },
    responses: { 201: json(RelaySchema, "Created (credentials are not returned)"), ...errorResponses },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const { config, secrets } = await splitConfig(c.env, body.type, body.config);
    const now = new Date(c.get("clock")());
    const [row] = await c
      .get("db")
      .insert(relays)
      .values({
        id: newId("rly"),
        name: body.name,
        type: body.type,
        fromFilter: body.from_filter ?? null,
        sequence: body.sequence ?? 10,
        stream: body.stream ?? "transactional",
        dailyLimit: body.daily_limit ?? null,
        enabled: body.enabled ?? true,
        config,
        secrets,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    return c.json(await relayOut(c.env, row!), 201);
  },
);

relaysApi.openapi(
  createRoute({
    method: "get",
    path: "/relays",
    tags: ["relays"],
    summary: "List relays by sequence",
    security,
    responses: { 200: json(z.object({ items: z.array(RelaySchema), next_cursor: z.null() }), "Relays"), ...errorResponses },
  }),
  async (c) => {
    const rows = await c.get("db").select().from(relays).orderBy(asc(relays.sequence), asc(relays.id));
    return c.json({ items: await Promise.all(rows.map((r) => relayOut(c.env, r))), next_cursor: null }, 200);
  },
);

relaysApi.openapi(
  createRoute({
    method: "get",
    path: "/relays/{id}",
    tags: ["relays"],
    summary: "Get a relay (without credentials)",
    security,
    request: { params: IdParam },
    responses: { 200: json(RelaySchema, "The relay"), ...errorResponses },
  }),
  async (c) => c.json(await relayOut(c.env, await findRelay(c.get("db"), c.req.valid("param").id)), 200),
);

relaysApi.openapi(
  createRoute({
    method: "patch",
    path: "/relays/{id}",
    tags: ["relays"],
    summary: "Change a relay",
    security,
    request: { params: IdParam, body: jsonBody(PatchRelayBody) },
    responses: { 200: json(RelaySchema, "Updated"), ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const current = await findRelay(db, c.req.valid("param").id);
    const body = c.req.valid("json");
    const storedSecrets = current.secrets ? openedSecrets(await unseal(c.env.SECRETS_KEY, current.secrets)) : {};
    const stored = body.config ? await splitConfig(c.env, current.type, mergeConfig(current.config, storedSecrets, body.config)) : null;
    const [row] = await db
      .update(relays)
      .set({
        name: body.name ?? current.name,
        fromFilter: body.from_filter === undefined ? current.fromFilter : body.from_filter,
        sequence: body.sequence ?? current.sequence,
        stream: body.stream ?? current.stream,
        dailyLimit: body.daily_limit === undefined ? current.dailyLimit : body.daily_limit,
        enabled: body.enabled ?? current.enabled,
        ...(stored && { config: stored.config, secrets: stored.secrets }),
        updatedAt: new Date(c.get("clock")()),
      })
      .where(eq(relays.id, current.id))
      .returning();
    // A token got with the former OAuth client, account or server is not used again.
    if (stored && current.type === "smtp") await forgetAccessToken(db, tokenOwner("relay", current.id));
    return c.json(await relayOut(c.env, row!), 200);
  },
);

relaysApi.openapi(
  createRoute({
    method: "delete",
    path: "/relays/{id}",
    tags: ["relays"],
    summary: "Delete a relay",
    security,
    request: { params: IdParam },
    responses: { 204: { description: "Deleted" }, ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const deleted = await c.get("db").delete(relays).where(eq(relays.id, id)).returning({ id: relays.id });
    if (!deleted.length) throw notFound(`relay ${id}`);
    await forgetAccessToken(c.get("db"), tokenOwner("relay", id));
    return c.body(null, 204);
  },
);

const ProbeAnswer = z
  .union([
    z.object({
      ok: z.literal(true),
      answer: z.string().openapi({
        description: "What the server or provider said: the SMTP transcript (greeting, EHLO, TLS, AUTH, QUIT; credentials hidden), or the provider's status and a summary",
      }),
    }),
    z.object({
      ok: z.literal(false),
      error: z.string().openapi({ description: "The step that failed, in the server's or provider's words; never a credential" }),
      code: z.string().nullable().openapi({ description: "The SMTP or HTTP code, or the cause (tls_untrusted_issuer, oauth_refused, network, …)" }),
      answer: z.string().optional().openapi({ description: "SMTP: the transcript until the failure" }),
    }),
  ])
  .openapi("RelayTest");

const TestMessageBody = z
  .strictObject({ to: MailboxInput.openapi({ type: "string", example: "mary@example.com", description: "Who gets the test message" }) })
  .openapi("RelayTestMessageRequest");

const TestMessageAnswer = z
  .union([
    z.object({
      ok: z.literal(true),
      answer: z.string().openapi({ description: "SMTP: the reply to the end of DATA (`250 2.0.0 Ok: queued as …`); a provider: its status and message id" }),
      message_id: z.string().openapi({ description: "The test message's Message-ID header (it is not stored: no message row has it)" }),
      provider_message_id: z.string().nullable(),
      from: z.string().openapi({ description: "The From it was sent as (the relay's fixed_sender, a notifications address its from_filter allows, or an address of the filter)" }),
    }),
    z.object({
      ok: z.literal(false),
      error: z.string().openapi({ description: "The relay's failure or refusal, in its words; never a credential" }),
      code: z.string().nullable(),
      message_id: z.string(),
      from: z.string(),
    }),
  ])
  .openapi("RelayTestMessage");

/** Said with every answer about a disabled relay: it can be tested, but sends nothing else. */
const DISABLED_NOTE = "(This relay is disabled: mailgate sends nothing else through it until it is enabled.)";

/** The domains as planning orders them: the test message's From is a notifications address of one of them. */
function domainRows(db: Db) {
  return db.select({ name: domains.name, defaultFrom: domains.defaultFrom }).from(domains).orderBy(asc(domains.sequence), asc(domains.name));
}

relaysApi.openapi(
  createRoute({
    method: "post",
    path: "/relays/{id}/test",
    tags: ["relays"],
    summary: "Test the connection: SMTP connects, says EHLO, starts TLS, logs in and quits; a provider answers one read-only request. Nothing is sent",
    security,
    request: { params: IdParam },
    responses: { 200: json(ProbeAnswer, "What the relay said"), ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const row = await findRelay(db, c.req.valid("param").id);
    // The EHLO name: the relay's own, else the domain of the address a test message would be from (as real mail says the From's).
    const sender = testSender(row, await domainRows(db));
    const helo = sender.ok ? domainOf(sender.sender.from.address) : "localhost";
    const result = await probeRelay(row, c.env, helo, { db, now: c.get("clock")() });
    if (result.ok && !row.enabled) return c.json({ ok: true as const, answer: `${result.answer}\n${DISABLED_NOTE}` }, 200);
    return c.json(result, 200);
  },
);

relaysApi.openapi(
  createRoute({
    method: "post",
    path: "/relays/{id}/test-message",
    tags: ["relays"],
    summary: "Send a short test message through this relay now (not queued, not stored), answering what the relay said",
    security,
    request: { params: IdParam, body: jsonBody(TestMessageBody) },
    responses: {
      200: json(TestMessageAnswer, "What the relay answered"),
      ...unprocessableResponse,
      ...errorResponses,
    },
  }),
  async (c) => {
    const db = c.get("db");
    const now = c.get("clock")();
    const row = await findRelay(db, c.req.valid("param").id);
    const to = c.req.valid("json").to;
    const address = normalizeAddress(to.address) ?? to.address;
    const [domainList, suppressed] = await db.batch([
      domainRows(db),
      db
        .select()
        .from(suppressions)
        .where(and(eq(suppressions.email, address), inArray(suppressions.stream, [EVERY_STREAM, row.stream]))),
    ]);
    const suppression = suppressed[0];
    if (suppression) {
      const scope = suppression.stream === EVERY_STREAM ? "every stream" : `${suppression.stream} mail`;
      throw new ApiError(
        "unprocessable",
        `to: ${address} is suppressed for ${scope} (${suppression.reason} since ${iso(suppression.createdAt)}): nothing is sent to it; lift the suppression first (DELETE /v1/suppressions/${encodeURIComponent(address)}) or test with another address`,
      );
    }
    const sender = testSender(row, domainList);
    if (!sender.ok) throw new ApiError("unprocessable", `no From fits: ${sender.reason}`);
    const { from, envelopeFrom } = sender.sender;
    const messageId = testMessageId(from.address, crypto.getRandomValues(new Uint8Array(10)));
    const raw = composeTestMessage({ relay: row, sender: sender.sender, to, messageId, date: new Date(now), disabled: !row.enabled });
    const outcome = await sendThrough(
      row,
      c.env,
      domainOf(from.address),
      { db, now },
      {
        // Providers that take an idempotency key get one that names this test only.
        id: messageId.slice(1, -1),
        envelopeFrom,
        bounceAddress: null,
        recipients: [address],
        raw,
        parsed: () => parseMessage(raw),
      },
    );
    const result = testOutcome(outcome);
    const shown = { message_id: messageId, from: formatMailbox(from) };
    if (!result.ok) return c.json({ ok: false as const, error: result.error, code: result.code, ...shown }, 200);
    const answer = row.enabled ? result.answer : `${result.answer}\n${DISABLED_NOTE}`;
    return c.json({ ok: true as const, answer, provider_message_id: result.providerMessageId, ...shown }, 200);
  },
);
