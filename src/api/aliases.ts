/** `/v1/aliases`: addresses that take mail, and what they do with it. */
import { createRoute, z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import type { Context } from "hono";
import { type AliasDraft, type AliasProblem, aliasProblemText, checkAlias, isMalformed, splitDestinations } from "../aliases/rules";
import { type Db, isUniqueViolation } from "../db/client";
import { aliases, domains, threads } from "../db/schema";
import { newWebhookSecret, rotateSecrets, secretsForDestinations } from "../deliveries/signing";
import { allowsPrivateTargets } from "../deliveries/webhook-url";
import type { Env } from "../env";
import { newId } from "../ids";
import { ALIAS_CONTACT_POLICIES, type Destination, type Mailbox } from "../model";
import { recomputeRawExpiry } from "../retention";
import { MissingSecretsKey, seal } from "../secrets";
import { type AppEnv, router } from "./context";
import { ApiError, notFound } from "./errors";
import { keyset, ListQuery, listOf } from "./pagination";
import { PurgeQuery, PurgeSchema, requestPurge } from "./purges";
import {
  conflictResponse,
  DomainName,
  EmailAddress,
  errorResponses,
  iso,
  json,
  jsonBody,
  MailboxSchema,
  rotatedSecretSchema,
  rotateSecretBody,
  security,
  Timestamp,
  unprocessableResponse,
} from "./schemas";
import { FollowerInput, refuseOwnAddresses } from "./threads";

type AliasRow = typeof aliases.$inferSelect;

/** Each thread an alias opens gets these followers in the same batch as the thread (D1 binds at most 100 values). */
const MAX_ALIAS_FOLLOWERS = 20;

function followerList(list: { email: string; name?: string | null | undefined }[]): Mailbox[] {
  const byAddress = new Map(list.map((f) => [f.email, f.name ?? ""]));
  return [...byAddress].map(([address, name]) => ({ address, name }));
}

/** Payloads stay well under what receivers and Workers handle comfortably. */
const MAX_INLINE_BYTES = 1024 * 1024;

const WebhookSecretInput = z
  .string()
  .min(24, "a webhook secret needs at least 24 characters")
  .max(200)
  .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces");

const StoreDestination = z.strictObject({ type: z.literal("store") });
const ForwardDestination = z.strictObject({ type: z.literal("forward"), to: EmailAddress.openapi({ description: "A verified destination address" }) });
const webhookFields = {
  type: z.literal("webhook"),
  url: z.string().max(2000).openapi({ description: "https; never a private, loopback or link-local address (unless ALLOW_PRIVATE_WEBHOOKS is set for local development)" }),
  inline_max_bytes: z
    .number()
    .int()
    .min(0)
    .max(MAX_INLINE_BYTES)
    .optional()
    .openapi({ description: "Attachments up to this size are inlined in the payload as base64 (default 0: links only)" }),
};

/** Names Odoo is given (database, login, model): no control character, which XML cannot carry. */
const OdooName = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\p{Cc}\p{Cs}]+$/u, "no control characters");

const odooFields = {
  type: z.literal("odoo"),
  url: z.string().max(2000).openapi({
    description: "Odoo's base URL (https://odoo.example.com): /xmlrpc/2/common and /xmlrpc/2/object are added to it; the webhook rules apply (https, no private address)",
  }),
  db: OdooName(128).openapi({ description: "The Odoo database" }),
  login: OdooName(256).openapi({ description: "The Odoo user whose API key is given (the user the mail is processed as)" }),
  model: z
    .string()
    .max(128)
    .regex(/^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*$/, "an Odoo model name such as crm.lead")
    .nullable()
    .optional()
    .openapi({ description: "message_process's model: where mail no Odoo alias takes goes (a new record of it); null or absent: Odoo routes by its own aliases only" }),
  thread_id: z
    .number()
    .int()
    .min(1)
    .max(2 ** 31 - 1)
    .nullable()
    .optional()
    .openapi({ description: "With model: the record every message is posted on" }),
  save_original: z.boolean().optional().openapi({ description: "Odoo keeps the original message as an attachment" }),
  strip_attachments: z.boolean().optional().openapi({ description: "Odoo drops the attachments" }),
  bounces: z.boolean().optional().openapi({ description: "Also hand this database the bounce reports that arrive at the alias's domain (default false)" }),
};

const DestinationSchema = z
  .discriminatedUnion("type", [
    StoreDestination,
    ForwardDestination,
    z.strictObject(webhookFields),
    z.strictObject({ ...odooFields, api_key_set: z.literal(true).openapi({ description: "The API key is stored, sealed; it is never shown" }) }),
  ])
  .openapi("Destination");

/** In a request, a webhook destination may carry the signing secret to use (write-only; one per alias), an Odoo destination its API key (write-only). */
const DestinationInput = z
  .discriminatedUnion("type", [
    StoreDestination,
    ForwardDestination,
    z.strictObject({
      ...webhookFields,
      secret: WebhookSecretInput.optional().openapi({ description: "The signing secret to use; one is made when the alias gets its first webhook" }),
    }),
    z.strictObject({
      ...odooFields,
      api_key: z
        .string()
        .min(1)
        .max(1000)
        .regex(/^[^\p{Cc}\p{Cs}]+$/u, "no control characters")
        .optional()
        .openapi({
          description:
            "An API key of the login (Odoo: Preferences, Account Security, New API Key); sealed, never shown. Leave it out to keep the one stored for the same url, db and login",
        }),
    }),
  ])
  .openapi("DestinationInput");

type DestinationBody = z.infer<typeof DestinationInput>;

const AliasSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    domain: z.string().nullable(),
    address: z.string(),
    destinations: z.array(DestinationSchema),
    contact: z.enum(ALIAS_CONTACT_POLICIES),
    local_part_only: z.boolean(),
    thread_id: z.string().nullable(),
    refusal_text: z.string().nullable(),
    enabled: z.boolean(),
    add_sender_as_follower: z.boolean(),
    followers: z.array(MailboxSchema).openapi({ description: "Follow every thread the alias opens, and are notified of its mail" }),
    status: z.enum(["not_tested", "valid", "invalid"]),
    raw_retention_days: z.number().int().nullable().openapi({ description: "Days this alias's raw mail stays in R2 (0: forever); null: the setting" }),
    webhook_secret_set: z.boolean().openapi({ description: "Whether the alias has a webhook signing secret (its value is never shown again)" }),
    webhook_secret: z.string().optional().openapi({ description: "The new webhook signing secret: only in the answer that made it" }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Alias");

/**
 * The API's view of a stored alias: whether it has webhook secrets, never
 * their values; a secret just made (`newSecret`) is shown in this one
 * answer only.
 */
export function aliasOut(row: AliasRow, newSecret?: string): z.infer<typeof AliasSchema> {
  return {
    id: row.id,
    name: row.name,
    domain: row.domain,
    address: row.address,
    destinations: row.destinations.map(destinationOut),
    contact: row.contact,
    local_part_only: row.localPartOnly,
    thread_id: row.threadId,
    refusal_text: row.refusalText,
    enabled: row.enabled,
    add_sender_as_follower: row.addSenderAsFollower,
    followers: row.followers,
    status: row.status,
    raw_retention_days: row.rawRetentionDays,
    webhook_secret_set: row.webhookSecrets !== null,
    ...(newSecret && { webhook_secret: newSecret }),
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

/** A stored destination as the API shows it: an Odoo API key only as `api_key_set`. */
function destinationOut(destination: Destination): z.infer<typeof DestinationSchema> {
  if (destination.type !== "odoo") return destination;
  const { api_key: _sealed, ...shown } = destination;
  return { ...shown, api_key_set: true };
}

const aliasFields = {
  name: z.string().min(1).max(64).openapi({ description: "Local part; sanitized as Odoo does (lowercase, no accents)" }),
  domain: DomainName.nullable().openapi({ description: "null: the alias has no domain and matches by local part on any allowed domain" }),
  destinations: z.array(DestinationInput).min(1).max(20),
  contact: z.enum(ALIAS_CONTACT_POLICIES).openapi({ description: "Who may write: everyone, known contacts, or followers of the pinned thread" }),
  local_part_only: z.boolean().openapi({ description: "Also match the local part on any allowed domain (Odoo's alias_incoming_local)" }),
  thread_id: z.string().nullable().openapi({ description: "Pin the alias to a thread: all its mail joins that thread" }),
  refusal_text: z.string().max(2000).nullable().openapi({ description: "Text sent back when the contact policy refuses a sender" }),
  enabled: z.boolean(),
  add_sender_as_follower: z.boolean().openapi({ description: "The sender of new mail follows the thread it opens" }),
  followers: z.array(FollowerInput).max(MAX_ALIAS_FOLLOWERS).openapi({ description: "Follow every thread the alias opens (and so are notified of its mail)" }),
  raw_retention_days: z
    .number()
    .int()
    .min(0)
    .max(36_500)
    .nullable()
    .openapi({ description: "Keep this alias's raw mail this many days instead of the setting (0: forever; e.g. 1 for a webhook-only alias); null: the setting" }),
};

const CreateAliasBody = z.strictObject({
  ...aliasFields,
  contact: aliasFields.contact.default("everyone"),
  local_part_only: aliasFields.local_part_only.default(false),
  thread_id: aliasFields.thread_id.optional(),
  refusal_text: aliasFields.refusal_text.optional(),
  enabled: aliasFields.enabled.default(true),
  add_sender_as_follower: aliasFields.add_sender_as_follower.default(false),
  followers: aliasFields.followers.default([]),
  raw_retention_days: aliasFields.raw_retention_days.optional(),
});

const PatchAliasBody = z.strictObject({
  name: aliasFields.name.optional(),
  domain: aliasFields.domain.optional(),
  destinations: aliasFields.destinations.optional(),
  contact: aliasFields.contact.optional(),
  local_part_only: aliasFields.local_part_only.optional(),
  thread_id: aliasFields.thread_id.optional(),
  refusal_text: aliasFields.refusal_text.optional(),
  enabled: aliasFields.enabled.optional(),
  add_sender_as_follower: aliasFields.add_sender_as_follower.optional(),
  followers: aliasFields.followers.optional(),
  raw_retention_days: aliasFields.raw_retention_days.optional(),
});

const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });

/** Checks an alias as it would be stored, with what D1 holds; answers its sanitized name and address, or the API error. */
async function checkedAlias(c: Context<AppEnv>, draft: AliasDraft): Promise<{ name: string; address: string }> {
  const db = c.get("db");
  const [served, thread] = await db.batch([
    db.select({ name: domains.name, catchall: domains.catchall, bounce: domains.bounce }).from(domains),
    db
      .select({ id: threads.id })
      .from(threads)
      .where(eq(threads.id, draft.threadId ?? "")),
  ]);
  const checked = checkAlias(draft, { domains: served, threadExists: thread.length > 0, allowPrivateWebhooks: allowsPrivateTargets(c.env) });
  if (!checked.ok) throw aliasError(checked.problem);
  return checked;
}

function aliasError(problem: AliasProblem): ApiError {
  return new ApiError(isMalformed(problem) ? "invalid_request" : "unprocessable", aliasProblemText(problem));
}

function destinationsOf(list: DestinationBody[]): { destinations: Destination[]; secret: string | null } {
  const split = splitDestinations(list);
  if (!split.ok) throw aliasError(split.problem);
  return split;
}

/**
 * The destinations with each Odoo API key sealed (`odoo-api-keys`): a key
 * given is sealed; an Odoo destination without one keeps the key stored
 * for the same url, db and login (a PATCH need not repeat it), else it is
 * refused. The API key is never stored or answered in clear.
 */
async function withSealedOdooKeys(env: Env, destinations: Destination[], current: Destination[]): Promise<Destination[]> {
  try {
    return await Promise.all(
      destinations.map(async (destination) => {
        if (destination.type !== "odoo") return destination;
        if (destination.api_key !== undefined) return { ...destination, api_key: await seal(env.SECRETS_KEY, destination.api_key, "odoo-api-keys") };
        const stored = current.find((d) => d.type === "odoo" && d.url === destination.url && d.db === destination.db && d.login === destination.login);
        if (stored?.type !== "odoo")
          throw new ApiError("invalid_request", `invalid body: destinations: the Odoo destination ${destination.url} (${destination.db}, ${destination.login}) needs its api_key`);
        return { ...destination, api_key: stored.api_key };
      }),
    );
  } catch (error) {
    if (error instanceof MissingSecretsKey) throw new ApiError("internal_error", error.message);
    throw error;
  }
}

/** The alias's sealed webhook secrets after this change (see secretsForDestinations). */
async function webhookSecretsFor(env: Env, current: string | null, destinations: Destination[], given: string | null, now: number) {
  try {
    return await secretsForDestinations(
      env.SECRETS_KEY,
      current,
      destinations.some((d) => d.type === "webhook"),
      given,
      now,
    );
  } catch (error) {
    if (error instanceof MissingSecretsKey) throw new ApiError("internal_error", error.message);
    throw error;
  }
}

export const aliasesApi = router();

aliasesApi.openapi(
  createRoute({
    method: "post",
    path: "/aliases",
    tags: ["aliases"],
    summary: "Create an alias",
    security,
    request: { body: jsonBody(CreateAliasBody) },
    responses: { 201: json(AliasSchema, "Created"), ...conflictResponse, ...unprocessableResponse, ...errorResponses },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const db = c.get("db");
    const { destinations, secret } = destinationsOf(body.destinations);
    const { name, address } = await checkedAlias(c, { name: body.name, domain: body.domain, destinations, localPartOnly: body.local_part_only, threadId: body.thread_id ?? null });
    await refuseOwnAddresses(
      db,
      body.followers.map((f) => f.email),
    );
    const now = new Date(c.get("clock")());
    const webhook = await webhookSecretsFor(c.env, null, destinations, secret, now.getTime());
    const stored = await withSealedOdooKeys(c.env, destinations, []);
    try {
      const [row] = await db
        .insert(aliases)
        .values({
          id: newId("als"),
          name,
          domain: body.domain,
          address,
          destinations: stored,
          contact: body.contact,
          localPartOnly: body.local_part_only,
          threadId: body.thread_id ?? null,
          refusalText: body.refusal_text ?? null,
          enabled: body.enabled,
          addSenderAsFollower: body.add_sender_as_follower,
          followers: followerList(body.followers),
          rawRetentionDays: body.raw_retention_days ?? null,
          webhookSecrets: webhook.sealed,
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      return c.json(aliasOut(row!, webhook.shown), 201);
    } catch (error) {
      if (isUniqueViolation(error)) throw new ApiError("conflict", `an alias ${address} already exists`);
      throw error;
    }
  },
);

const ListAliasesQuery = ListQuery.extend({ domain: DomainName.optional() });

aliasesApi.openapi(
  createRoute({
    method: "get",
    path: "/aliases",
    tags: ["aliases"],
    summary: "List aliases, newest first",
    security,
    request: { query: ListAliasesQuery },
    responses: { 200: json(listOf(AliasSchema, "AliasList"), "Aliases"), ...errorResponses },
  }),
  async (c) => {
    const { domain, ...query } = c.req.valid("query");
    const list = keyset(aliases.id, "desc", query);
    const rows = await c
      .get("db")
      .select()
      .from(aliases)
      .where(and(list.after, domain ? eq(aliases.domain, domain) : undefined))
      .orderBy(list.orderBy)
      .limit(list.limit);
    return c.json(
      list.page(rows, (r) => r.id, aliasOut),
      200,
    );
  },
);

async function findAlias(db: Db, id: string): Promise<AliasRow> {
  const row = await db.select().from(aliases).where(eq(aliases.id, id)).get();
  if (!row) throw notFound(`alias ${id}`);
  return row;
}

aliasesApi.openapi(
  createRoute({
    method: "get",
    path: "/aliases/{id}",
    tags: ["aliases"],
    summary: "Get an alias",
    security,
    request: { params: IdParam },
    responses: { 200: json(AliasSchema, "The alias"), ...errorResponses },
  }),
  async (c) => c.json(aliasOut(await findAlias(c.get("db"), c.req.valid("param").id)), 200),
);

aliasesApi.openapi(
  createRoute({
    method: "patch",
    path: "/aliases/{id}",
    tags: ["aliases"],
    summary: "Change an alias",
    security,
    request: { params: IdParam, body: jsonBody(PatchAliasBody) },
    responses: { 200: json(AliasSchema, "Updated"), ...conflictResponse, ...unprocessableResponse, ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const current = await findAlias(db, c.req.valid("param").id);
    const body = c.req.valid("json");
    const { destinations, secret } = body.destinations ? destinationsOf(body.destinations) : { destinations: current.destinations, secret: null };
    const domain = body.domain === undefined ? current.domain : body.domain;
    const threadId = body.thread_id === undefined ? current.threadId : body.thread_id;
    const localPartOnly = body.local_part_only ?? current.localPartOnly;
    const { name, address } = await checkedAlias(c, { name: body.name ?? current.name, domain, destinations, localPartOnly, threadId });
    if (body.followers)
      await refuseOwnAddresses(
        db,
        body.followers.map((f) => f.email),
      );
    const webhook = await webhookSecretsFor(c.env, current.webhookSecrets, destinations, secret, c.get("clock")());
    const stored = body.destinations ? await withSealedOdooKeys(c.env, destinations, current.destinations) : current.destinations;
    const contact = body.contact ?? current.contact;
    // Odoo resets the status when what decides routing changes; the next message tests it again.
    const retest = contact !== current.contact || threadId !== current.threadId;
    try {
      const [row] = await db
        .update(aliases)
        .set({
          name,
          domain,
          address,
          destinations: stored,
          contact,
          localPartOnly,
          threadId,
          refusalText: body.refusal_text === undefined ? current.refusalText : body.refusal_text,
          enabled: body.enabled ?? current.enabled,
          addSenderAsFollower: body.add_sender_as_follower ?? current.addSenderAsFollower,
          followers: body.followers ? followerList(body.followers) : current.followers,
          rawRetentionDays: body.raw_retention_days === undefined ? current.rawRetentionDays : body.raw_retention_days,
          status: retest ? "not_tested" : current.status,
          webhookSecrets: webhook.sealed,
          updatedAt: new Date(c.get("clock")()),
        })
        .where(eq(aliases.id, current.id))
        .returning();
      // This alias's stored raw copies expire by its new retention from now on.
      if (row!.rawRetentionDays !== current.rawRetentionDays) await recomputeRawExpiry(db, current.id);
      return c.json(aliasOut(row!, webhook.shown), 200);
    } catch (error) {
      if (isUniqueViolation(error)) throw new ApiError("conflict", `an alias ${address} already exists`);
      throw error;
    }
  },
);

aliasesApi.openapi(
  createRoute({
    method: "delete",
    path: "/aliases/{id}",
    tags: ["aliases"],
    summary: "Delete an alias (its threads and messages stay, unless purge=true: then its stored mail is deleted by the next retention sweeps)",
    security,
    request: { params: IdParam, query: PurgeQuery },
    responses: { 204: { description: "Deleted" }, 202: json(PurgeSchema, "Deleted; its mail is being purged"), ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const db = c.get("db");
    const deleted = await db.delete(aliases).where(eq(aliases.id, id)).returning({ id: aliases.id });
    if (!deleted.length) throw notFound(`alias ${id}`);
    if (!c.req.valid("query").purge) return c.body(null, 204);
    return c.json(await requestPurge(db, "alias", id, c.get("clock")()), 202);
  },
);

const RotateSecretBody = rotateSecretBody(WebhookSecretInput);
const RotatedSecretSchema = rotatedSecretSchema("RotatedWebhookSecret");

aliasesApi.openapi(
  createRoute({
    method: "post",
    path: "/aliases/{id}/webhook-secret",
    tags: ["aliases"],
    summary: "Rotate the alias's webhook signing secret (both sign payloads until the previous one expires)",
    security,
    request: { params: IdParam, body: jsonBody(RotateSecretBody) },
    responses: { 200: json(RotatedSecretSchema, "The new secret"), ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const current = await findAlias(db, c.req.valid("param").id);
    const body = c.req.valid("json");
    const secret = body.secret ?? newWebhookSecret();
    const now = c.get("clock")();
    const sealed = await rotateSecrets(c.env.SECRETS_KEY, current.webhookSecrets, secret, body.previous_valid_seconds, now);
    await db
      .update(aliases)
      .set({ webhookSecrets: sealed, updatedAt: new Date(now) })
      .where(eq(aliases.id, current.id));
    const kept = current.webhookSecrets !== null && body.previous_valid_seconds > 0;
    return c.json({ secret, previous_expires_at: kept ? iso(new Date(now + body.previous_valid_seconds * 1000)) : null }, 200);
  },
);
