/** `/v1/aliases`: addresses that take mail, and what they do with it. */
import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { type Db, isUniqueViolation } from "../db/client";
import { ALIAS_CONTACT_POLICIES, aliases, type Destination, domains, threads } from "../db/schema";
import { newId } from "../ids";
import { domainOf } from "../mail/address";
import { router } from "./context";
import { ApiError, notFound } from "./errors";
import {
  conflictResponse,
  DomainName,
  DOT_ATOM,
  EmailAddress,
  errorResponses,
  iso,
  json,
  jsonBody,
  ListQuery,
  listOf,
  page,
  security,
  Timestamp,
  unprocessableResponse,
} from "./schemas";

type AliasRow = typeof aliases.$inferSelect;

/**
 * Odoo's `_sanitize_alias_name` (17/18): accents removed, lowercased, the
 * part before any `@`, dots trimmed and collapsed, other characters that
 * are not allowed in a local part replaced by `-`, ASCII only.
 */
export function sanitizeAliasName(value: string): string {
  return value
    .trim()
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .split("@")[0]!
    .replace(/^\.+|\.+$/g, "")
    .replace(/\.{2,}/g, ".")
    .replace(/[^a-z0-9_!#$%&'*+\-/=?^`{|}~.]+/g, "-");
}

const DestinationSchema = z
  .discriminatedUnion("type", [
    z.strictObject({ type: z.literal("store") }),
    z.strictObject({ type: z.literal("forward"), to: EmailAddress.openapi({ description: "A verified destination address" }) }),
    z.strictObject({
      type: z.literal("webhook"),
      url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).max(2000),
    }),
  ])
  .openapi("Destination");

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
    status: z.enum(["not_tested", "valid", "invalid"]),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Alias");

export function aliasOut(row: AliasRow): z.infer<typeof AliasSchema> {
  return {
    id: row.id,
    name: row.name,
    domain: row.domain,
    address: row.address,
    destinations: row.destinations,
    contact: row.contact,
    local_part_only: row.localPartOnly,
    thread_id: row.threadId,
    refusal_text: row.refusalText,
    enabled: row.enabled,
    add_sender_as_follower: row.addSenderAsFollower,
    status: row.status,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

const aliasFields = {
  name: z.string().min(1).max(64).openapi({ description: "Local part; sanitized as Odoo does (lowercase, no accents)" }),
  domain: DomainName.nullable().openapi({ description: "null: the alias has no domain and matches by local part on any allowed domain" }),
  destinations: z.array(DestinationSchema).min(1).max(20),
  contact: z.enum(ALIAS_CONTACT_POLICIES).openapi({ description: "Who may write: everyone, known contacts, or followers of the pinned thread" }),
  local_part_only: z.boolean().openapi({ description: "Also match the local part on any allowed domain (Odoo's alias_incoming_local)" }),
  thread_id: z.string().nullable().openapi({ description: "Pin the alias to a thread: all its mail joins that thread" }),
  refusal_text: z.string().max(2000).nullable().openapi({ description: "Text sent back when the contact policy refuses a sender" }),
  enabled: z.boolean(),
  add_sender_as_follower: z.boolean().openapi({ description: "The sender of new mail follows the thread it opens" }),
};

const CreateAliasBody = z.strictObject({
  ...aliasFields,
  contact: aliasFields.contact.default("everyone"),
  local_part_only: aliasFields.local_part_only.default(false),
  thread_id: aliasFields.thread_id.optional(),
  refusal_text: aliasFields.refusal_text.optional(),
  enabled: aliasFields.enabled.default(true),
  add_sender_as_follower: aliasFields.add_sender_as_follower.default(false),
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
});

const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });

interface AliasDraft {
  name: string;
  domain: string | null;
  destinations: Destination[];
  localPartOnly: boolean;
  threadId: string | null;
}

/** Checks an alias as it would be stored; returns its sanitized name and address. */
async function validateAlias(db: Db, draft: AliasDraft): Promise<{ name: string; address: string }> {
  const name = sanitizeAliasName(draft.name);
  if (!DOT_ATOM.test(name)) throw new ApiError("invalid_request", `invalid body: name: "${draft.name}" does not make a valid local part`);
  if (draft.domain === null && !draft.localPartOnly) {
    throw new ApiError("invalid_request", "invalid body: an alias without a domain matches by local part only: set local_part_only to true");
  }
  const served = await db.select({ name: domains.name, catchall: domains.catchall, bounce: domains.bounce }).from(domains);
  if (draft.domain !== null) {
    const domain = served.find((d) => d.name === draft.domain);
    if (!domain) throw new ApiError("unprocessable", `domain ${draft.domain} is not configured: PUT /v1/domains/${draft.domain} first`);
    if (name === domain.catchall || name === domain.bounce) {
      throw new ApiError("unprocessable", `${name}@${domain.name} is the domain's ${name === domain.catchall ? "catchall" : "bounce"} address`);
    }
  }
  for (const destination of draft.destinations) {
    // Forwarding into a domain we serve would hand the mail back to us: a loop.
    if (destination.type === "forward" && served.some((d) => d.name === domainOf(destination.to))) {
      throw new ApiError("unprocessable", `forwarding to ${destination.to} would loop: ${domainOf(destination.to)} is served by mailgate`);
    }
  }
  if (draft.threadId) {
    const thread = await db.select({ id: threads.id }).from(threads).where(eq(threads.id, draft.threadId)).get();
    if (!thread) throw new ApiError("unprocessable", `thread ${draft.threadId} does not exist`);
  }
  return { name, address: draft.domain ? `${name}@${draft.domain}` : name };
}

function uniqueDestinations(list: Destination[]): Destination[] {
  const seen = new Set<string>();
  return list.filter((d) => {
    const key = JSON.stringify(d);
    return seen.has(key) ? false : (seen.add(key), true);
  });
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
    const destinations = uniqueDestinations(body.destinations);
    const { name, address } = await validateAlias(db, {
      name: body.name,
      domain: body.domain,
      destinations,
      localPartOnly: body.local_part_only,
      threadId: body.thread_id ?? null,
    });
    const now = new Date();
    try {
      const [row] = await db
        .insert(aliases)
        .values({
          id: newId("als"),
          name,
          domain: body.domain,
          address,
          destinations,
          contact: body.contact,
          localPartOnly: body.local_part_only,
          threadId: body.thread_id ?? null,
          refusalText: body.refusal_text ?? null,
          enabled: body.enabled,
          addSenderAsFollower: body.add_sender_as_follower,
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      return c.json(aliasOut(row!), 201);
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
    const { limit, cursor, domain } = c.req.valid("query");
    const rows = await c
      .get("db")
      .select()
      .from(aliases)
      .where(and(cursor ? lt(aliases.id, cursor) : undefined, domain ? eq(aliases.domain, domain) : undefined))
      .orderBy(desc(aliases.id))
      .limit(limit + 1);
    return c.json(page(rows, limit, (r) => r.id, aliasOut), 200);
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
    const destinations = body.destinations ? uniqueDestinations(body.destinations) : current.destinations;
    const domain = body.domain === undefined ? current.domain : body.domain;
    const threadId = body.thread_id === undefined ? current.threadId : body.thread_id;
    const localPartOnly = body.local_part_only ?? current.localPartOnly;
    const { name, address } = await validateAlias(db, { name: body.name ?? current.name, domain, destinations, localPartOnly, threadId });
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
          destinations,
          contact,
          localPartOnly,
          threadId,
          refusalText: body.refusal_text === undefined ? current.refusalText : body.refusal_text,
          enabled: body.enabled ?? current.enabled,
          addSenderAsFollower: body.add_sender_as_follower ?? current.addSenderAsFollower,
          status: retest ? "not_tested" : current.status,
          updatedAt: new Date(),
        })
        .where(eq(aliases.id, current.id))
        .returning();
      return c.json(aliasOut(row!), 200);
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
    summary: "Delete an alias (its threads and messages stay)",
    security,
    request: { params: IdParam },
    responses: { 204: { description: "Deleted" }, ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const deleted = await c.get("db").delete(aliases).where(eq(aliases.id, id)).returning({ id: aliases.id });
    if (!deleted.length) throw notFound(`alias ${id}`);
    return c.body(null, 204);
  },
);
