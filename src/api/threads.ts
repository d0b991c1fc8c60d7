/** `/v1/threads`: conversations, their followers and their messages. */
import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { ownAliasesQuery } from "../db/own-aliases";
import { aliases, domains, followers, threads } from "../db/schema";
import { newId } from "../ids";
import { isOwnAddress } from "../mail/own-address";
import { router } from "./context";
import { ApiError, notFound } from "./errors";
import { inThread, listMessages, MessageSchema } from "./messages";
import { keyset, ListQuery, listOf } from "./pagination";
import { EmailAddress, errorResponses, iso, json, jsonBody, security, Timestamp, unprocessableResponse } from "./schemas";

type ThreadRow = typeof threads.$inferSelect;
type FollowerRow = typeof followers.$inferSelect;

const FollowerSchema = z.object({ email: z.string(), name: z.string().nullable(), created_at: Timestamp }).openapi("Follower");

const ThreadSchema = z
  .object({
    id: z.string(),
    subject: z.string().nullable(),
    alias_id: z.string().nullable(),
    followers: z.array(FollowerSchema),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Thread");

const followerOut = (f: FollowerRow) => ({ email: f.email, name: f.name, created_at: iso(f.createdAt) });

function threadOut(row: ThreadRow, followerRows: FollowerRow[]): z.infer<typeof ThreadSchema> {
  return {
    id: row.id,
    subject: row.subject,
    alias_id: row.aliasId,
    followers: followerRows.map(followerOut),
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

export const FollowerInput = z.strictObject({ email: EmailAddress, name: z.string().trim().min(1).max(200).nullable().optional() }).openapi("FollowerInput");

/** Our own addresses never follow a thread (they would be mailed its notifications): 422 naming them. */
export async function refuseOwnAddresses(db: Db, emails: string[]): Promise<void> {
  if (!emails.length) return;
  const [domainRows, aliasRows] = await db.batch([
    db.select({ name: domains.name, catchall: domains.catchall, bounce: domains.bounce, defaultFrom: domains.defaultFrom }).from(domains),
    ownAliasesQuery(db, emails),
  ]);
  const own = emails.filter((email) => isOwnAddress(email, domainRows, aliasRows));
  if (own.length) {
    throw new ApiError("unprocessable", `${own.join(", ")}: our own address (an alias, or a domain's catchall, bounce or notifications address) cannot follow a thread`);
  }
}

const CreateThreadBody = z.strictObject({
  subject: z.string().max(998).nullable().optional(),
  alias_id: z.string().nullable().optional().openapi({ description: "The alias the thread belongs to (its replies use the alias's destinations)" }),
  followers: z.array(FollowerInput).max(500).optional(),
});

const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });

async function loadThread(db: Db, id: string) {
  const [rows, followerRows] = await db.batch([
    db.select().from(threads).where(eq(threads.id, id)),
    db.select().from(followers).where(eq(followers.threadId, id)).orderBy(asc(followers.email)),
  ]);
  if (!rows[0]) throw notFound(`thread ${id}`);
  return threadOut(rows[0], followerRows);
}

export const threadsApi = router();

threadsApi.openapi(
  createRoute({
    method: "post",
    path: "/threads",
    tags: ["threads"],
    summary: "Create a thread",
    security,
    request: { body: jsonBody(CreateThreadBody) },
    responses: { 201: json(ThreadSchema, "Created"), ...unprocessableResponse, ...errorResponses },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const db = c.get("db");
    const alias = body.alias_id ? await db.select({ id: aliases.id, domain: aliases.domain }).from(aliases).where(eq(aliases.id, body.alias_id)).get() : undefined;
    if (body.alias_id && !alias) throw new ApiError("unprocessable", `alias ${body.alias_id} does not exist`);
    const now = new Date(c.get("clock")());
    const id = newId("thr");
    const unique = [...new Map((body.followers ?? []).map((f) => [f.email, f])).values()];
    await refuseOwnAddresses(
      db,
      unique.map((f) => f.email),
    );
    await db.batch([
      db.insert(threads).values({ id, subject: body.subject ?? null, aliasId: body.alias_id ?? null, domain: alias?.domain ?? null, createdAt: now, updatedAt: now }),
      ...unique.map((f) => db.insert(followers).values({ threadId: id, email: f.email, name: f.name ?? null, createdAt: now })),
    ]);
    return c.json(await loadThread(db, id), 201);
  },
);

const ListThreadsQuery = ListQuery.extend({ alias_id: z.string().max(64).optional() });

threadsApi.openapi(
  createRoute({
    method: "get",
    path: "/threads",
    tags: ["threads"],
    summary: "List threads, newest first",
    security,
    request: { query: ListThreadsQuery },
    responses: { 200: json(listOf(ThreadSchema.omit({ followers: true }), "ThreadList"), "Threads (without followers)"), ...errorResponses },
  }),
  async (c) => {
    const { alias_id, ...query } = c.req.valid("query");
    const list = keyset(threads.id, "desc", query);
    const rows = await c
      .get("db")
      .select()
      .from(threads)
      .where(and(list.after, alias_id ? eq(threads.aliasId, alias_id) : undefined))
      .orderBy(list.orderBy)
      .limit(list.limit);
    return c.json(
      list.page(
        rows,
        (r) => r.id,
        (r) => {
          const { followers: _, ...rest } = threadOut(r, []);
          return rest;
        },
      ),
      200,
    );
  },
);

threadsApi.openapi(
  createRoute({
    method: "get",
    path: "/threads/{id}",
    tags: ["threads"],
    summary: "Get a thread with its followers",
    security,
    request: { params: IdParam },
    responses: { 200: json(ThreadSchema, "The thread"), ...errorResponses },
  }),
  async (c) => c.json(await loadThread(c.get("db"), c.req.valid("param").id), 200),
);

threadsApi.openapi(
  createRoute({
    method: "get",
    path: "/threads/{id}/messages",
    tags: ["threads"],
    summary: "The thread's messages, newest first",
    security,
    request: { params: IdParam, query: ListQuery },
    responses: { 200: json(listOf(MessageSchema, "ThreadMessageList"), "Messages"), ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const query = c.req.valid("query");
    const db = c.get("db");
    const thread = await db.select({ id: threads.id }).from(threads).where(eq(threads.id, id)).get();
    if (!thread) throw notFound(`thread ${id}`);
    return c.json(await listMessages(db, [inThread(id)], query), 200);
  },
);

threadsApi.openapi(
  createRoute({
    method: "post",
    path: "/threads/{id}/followers",
    tags: ["threads"],
    summary: "Add a follower (or rename one)",
    security,
    request: { params: IdParam, body: jsonBody(FollowerInput) },
    responses: { 200: json(ThreadSchema, "The thread"), ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { email, name } = c.req.valid("json");
    const db = c.get("db");
    const thread = await db.select({ id: threads.id }).from(threads).where(eq(threads.id, id)).get();
    if (!thread) throw notFound(`thread ${id}`);
    await refuseOwnAddresses(db, [email]);
    await db
      .insert(followers)
      .values({ threadId: id, email, name: name ?? null, createdAt: new Date(c.get("clock")()) })
      .onConflictDoUpdate({ target: [followers.threadId, followers.email], set: { name: name ?? null } });
    return c.json(await loadThread(db, id), 200);
  },
);

threadsApi.openapi(
  createRoute({
    method: "delete",
    path: "/threads/{id}/followers",
    tags: ["threads"],
    summary: "Remove a follower",
    security,
    request: { params: IdParam, query: z.object({ email: EmailAddress }) },
    responses: { 200: json(ThreadSchema, "The thread"), ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { email } = c.req.valid("query");
    const db = c.get("db");
    const removed = await db
      .delete(followers)
      .where(and(eq(followers.threadId, id), eq(followers.email, email)))
      .returning();
    if (!removed.length) throw notFound(`follower ${email} of thread ${id}`);
    return c.json(await loadThread(db, id), 200);
  },
);
