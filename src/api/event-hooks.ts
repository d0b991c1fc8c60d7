/**
 * `/v1/event-hooks`: subscriptions to what happens to the mail a caller
 * sends (sent, delivered, deferred, bounced, complained, failed,
 * unsubscribed). Each recorded event becomes one signed delivery per
 * subscribed hook (src/events/hooks.ts, src/deliveries/event-hook.ts).
 *
 * An API key sees and manages only the hooks it made, which hear only about
 * the mail it sent; another's hook answers 404, exactly as a missing one.
 * The admin token sees every hook, and its own hear about all mail.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { and, count, eq, isNull, type SQL } from "drizzle-orm";
import type { Context } from "hono";
import type { Db } from "../db/client";
import { eventHooks } from "../db/schema";
import { newWebhookSecret, rotateSecrets } from "../deliveries/signing";
import { allowsPrivateTargets, checkWebhookUrl } from "../deliveries/webhook-url";
import type { OutboundEventType } from "../events/types";
import { newId } from "../ids";
import { MissingSecretsKey } from "../secrets";
import { type AppEnv, type Principal, router } from "./context";
import { ApiError, notFound } from "./errors";
import { keyset, ListQuery, listOf } from "./pagination";
import { conflictResponse, errorResponses, iso, json, jsonBody, rotatedSecretSchema, rotateSecretBody, security, Timestamp } from "./schemas";

type EventHookRow = typeof eventHooks.$inferSelect;

/** Every event a hook may subscribe to: `message.` and each outbound event type. */
const EVENT_TYPES = [
  "message.sent",
  "message.delivered",
  "message.deferred",
  "message.bounced",
  "message.complained",
  "message.failed",
  "message.unsubscribed",
] as const satisfies readonly `message.${OutboundEventType}`[];

/** Each event makes one delivery per subscribed hook: a bound on hooks per owner bounds that fan-out. */
const MAX_HOOKS_PER_OWNER = 20;

const EventList = z
  .array(z.enum(EVENT_TYPES))
  .min(1)
  .max(EVENT_TYPES.length)
  .refine((list) => new Set(list).size === list.length, { message: "each event at most once" })
  .openapi({ description: "The events to hear about" });

const HookUrl = z
  .string()
  .max(2000)
  .openapi({ description: "https; never a private, loopback or link-local address (unless ALLOW_PRIVATE_WEBHOOKS is set for local development)" });

const SecretInput = z
  .string()
  .min(24, "a signing secret needs at least 24 characters")
  .max(200)
  .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces");

const EventHookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.enum(EVENT_TYPES)),
    api_key_id: z.string().nullable().openapi({ description: "The API key that made it (it hears only about that key's mail); null: the admin's, which hears about all" }),
    secret: z.string().optional().openapi({ description: "The signing secret (`whsec_…`): only in the answer that made it" }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("EventHook");

/** The API's view of a hook: never its secrets, except one just made (`newSecret`), in that one answer. */
function hookOut(row: EventHookRow, newSecret?: string): z.infer<typeof EventHookSchema> {
  return {
    id: row.id,
    url: row.url,
    events: row.events as z.infer<typeof EventHookSchema>["events"],
    api_key_id: row.apiKeyId,
    ...(newSecret && { secret: newSecret }),
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

/** The URL as given, when mailgate may post to it; a 400 naming `url` and the reason otherwise. */
function checkedUrl(c: Context<AppEnv>, url: string): string {
  const checked = checkWebhookUrl(url, allowsPrivateTargets(c.env));
  if (!checked.ok) throw new ApiError("invalid_request", `invalid body: url: the event hook URL ${checked.reason}`);
  return url;
}

/** The hooks a caller may see: a key's own; all for the admin. */
function ownedBy(principal: Principal): SQL {
  return principal.kind === "key" ? eq(eventHooks.apiKeyId, principal.id) : isNull(eventHooks.apiKeyId);
}

function visibleTo(principal: Principal): SQL | undefined {
  return principal.kind === "key" ? eq(eventHooks.apiKeyId, principal.id) : undefined;
}

/** The hook, if the caller may see it: another key's answers the same 404 as a missing one. */
async function findHook(db: Db, principal: Principal, id: string): Promise<EventHookRow> {
  const row = await db
    .select()
    .from(eventHooks)
    .where(and(eq(eventHooks.id, id), visibleTo(principal)))
    .get();
  if (!row) throw notFound(`event hook ${id}`);
  return row;
}

/** Sealing needs SECRETS_KEY: without it, a 500 that says so. */
async function sealed<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof MissingSecretsKey) throw new ApiError("internal_error", error.message);
    throw error;
  }
}

const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });

export const eventHooksApi = router();

eventHooksApi.openapi(
  createRoute({
    method: "post",
    path: "/event-hooks",
    tags: ["event-hooks"],
    summary: "Subscribe a URL to events of the mail you send (the signing secret is in this answer only)",
    security,
    request: { body: jsonBody(z.strictObject({ url: HookUrl, events: EventList })) },
    responses: { 201: json(EventHookSchema, "Created"), ...conflictResponse, ...errorResponses },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const db = c.get("db");
    const principal = c.get("principal");
    const url = checkedUrl(c, body.url);
    const [{ hooks } = { hooks: 0 }] = await db.select({ hooks: count() }).from(eventHooks).where(ownedBy(principal));
    if (hooks >= MAX_HOOKS_PER_OWNER) throw new ApiError("conflict", `at most ${MAX_HOOKS_PER_OWNER} event hooks each: delete one first`);
    const now = c.get("clock")();
    const secret = newWebhookSecret();
    const secrets = await sealed(() => rotateSecrets(c.env.SECRETS_KEY, null, secret, 0, now));
    const [row] = await db
      .insert(eventHooks)
      .values({
        id: newId("evh", now),
        url,
        events: body.events,
        secrets,
        apiKeyId: principal.kind === "key" ? principal.id : null,
        createdAt: new Date(now),
        updatedAt: new Date(now),
      })
      .returning();
    return c.json(hookOut(row!, secret), 201);
  },
);

eventHooksApi.openapi(
  createRoute({
    method: "get",
    path: "/event-hooks",
    tags: ["event-hooks"],
    summary: "List event hooks, newest first (an API key: its own)",
    security,
    request: { query: ListQuery },
    responses: { 200: json(listOf(EventHookSchema, "EventHookList"), "Event hooks"), ...errorResponses },
  }),
  async (c) => {
    const list = keyset(eventHooks.id, "desc", c.req.valid("query"));
    const rows = await c
      .get("db")
      .select()
      .from(eventHooks)
      .where(and(list.after, visibleTo(c.get("principal"))))
      .orderBy(list.orderBy)
      .limit(list.limit);
    return c.json(
      list.page(rows, (r) => r.id, hookOut),
      200,
    );
  },
);

eventHooksApi.openapi(
  createRoute({
    method: "get",
    path: "/event-hooks/{id}",
    tags: ["event-hooks"],
    summary: "Get an event hook",
    security,
    request: { params: IdParam },
    responses: { 200: json(EventHookSchema, "The event hook"), ...errorResponses },
  }),
  async (c) => c.json(hookOut(await findHook(c.get("db"), c.get("principal"), c.req.valid("param").id)), 200),
);

eventHooksApi.openapi(
  createRoute({
    method: "patch",
    path: "/event-hooks/{id}",
    tags: ["event-hooks"],
    summary: "Change an event hook's URL or events (deliveries still pending for its old URL or events are not posted)",
    security,
    request: { params: IdParam, body: jsonBody(z.strictObject({ url: HookUrl.optional(), events: EventList.optional() })) },
    responses: { 200: json(EventHookSchema, "Updated"), ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const principal = c.get("principal");
    const current = await findHook(db, principal, c.req.valid("param").id);
    const body = c.req.valid("json");
    const [row] = await db
      .update(eventHooks)
      .set({
        url: body.url === undefined ? current.url : checkedUrl(c, body.url),
        events: body.events ?? current.events,
        updatedAt: new Date(c.get("clock")()),
      })
      .where(and(eq(eventHooks.id, current.id), visibleTo(principal)))
      .returning();
    if (!row) throw notFound(`event hook ${current.id}`);
    return c.json(hookOut(row), 200);
  },
);

eventHooksApi.openapi(
  createRoute({
    method: "delete",
    path: "/event-hooks/{id}",
    tags: ["event-hooks"],
    summary: "Delete an event hook (its pending deliveries are not posted)",
    security,
    request: { params: IdParam },
    responses: { 204: { description: "Deleted" }, ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const deleted = await c
      .get("db")
      .delete(eventHooks)
      .where(and(eq(eventHooks.id, id), visibleTo(c.get("principal"))))
      .returning({ id: eventHooks.id });
    if (!deleted.length) throw notFound(`event hook ${id}`);
    return c.body(null, 204);
  },
);

const RotateSecretBody = rotateSecretBody(SecretInput);
const RotatedSecretSchema = rotatedSecretSchema("RotatedEventHookSecret");

eventHooksApi.openapi(
  createRoute({
    method: "post",
    path: "/event-hooks/{id}/secret",
    tags: ["event-hooks"],
    summary: "Rotate the hook's signing secret (both sign payloads until the previous one expires)",
    security,
    request: { params: IdParam, body: jsonBody(RotateSecretBody) },
    responses: { 200: json(RotatedSecretSchema, "The new secret"), ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const principal = c.get("principal");
    const current = await findHook(db, principal, c.req.valid("param").id);
    const body = c.req.valid("json");
    const secret = body.secret ?? newWebhookSecret();
    const now = c.get("clock")();
    const secrets = await sealed(() => rotateSecrets(c.env.SECRETS_KEY, current.secrets, secret, body.previous_valid_seconds, now));
    const updated = await db
      .update(eventHooks)
      .set({ secrets, updatedAt: new Date(now) })
      .where(and(eq(eventHooks.id, current.id), visibleTo(principal)))
      .returning({ id: eventHooks.id });
    if (!updated.length) throw notFound(`event hook ${current.id}`);
    const kept = body.previous_valid_seconds > 0;
    return c.json({ secret, previous_expires_at: kept ? iso(new Date(now + body.previous_valid_seconds * 1000)) : null }, 200);
  },
);
