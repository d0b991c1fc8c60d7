/** `/v1/contacts`: addresses we know (the `known` contact policy), with their bounce state. */
import { createRoute, z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { contacts, suppressions } from "../db/schema";
import { SUPPRESSION_REASONS, type SuppressionReason } from "../model";
import { EVERY_STREAM, suppressStatement } from "../suppressions";
import { router } from "./context";
import { ApiError, notFound } from "./errors";
import { keyset, ListQuery, listOf } from "./pagination";
import { conflictResponse, EmailAddress, errorResponses, iso, json, jsonBody, security, Timestamp } from "./schemas";

/** A contact with its suppression for every stream, if any. */
type ContactRow = typeof contacts.$inferSelect & { suppressedReason: SuppressionReason | null };

const contactColumns = {
  email: contacts.email,
  name: contacts.name,
  bounceCount: contacts.bounceCount,
  lastBounceAt: contacts.lastBounceAt,
  createdAt: contacts.createdAt,
  updatedAt: contacts.updatedAt,
  suppressedReason: suppressions.reason,
};

/** Contacts joined with their every-stream suppression: the suppression model is the one table. */
function selectContacts(db: Db) {
  return db
    .select(contactColumns)
    .from(contacts)
    .leftJoin(suppressions, and(eq(suppressions.email, contacts.email), eq(suppressions.stream, EVERY_STREAM)));
}

const ContactSchema = z
  .object({
    email: z.string(),
    name: z.string().nullable(),
    bounce_count: z.number().int().openapi({ description: "Bounces counted since the contact last wrote to us (normal mail resets it)" }),
    suppressed: z.boolean().openapi({ description: "Suppressed for every stream: sends leave it out until it is unsuppressed (see GET /v1/suppressions for stream-scoped ones)" }),
    suppressed_reason: z.enum(SUPPRESSION_REASONS).nullable(),
    last_bounce_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Contact");

const contactOut = (row: ContactRow): z.infer<typeof ContactSchema> => ({
  email: row.email,
  name: row.name,
  bounce_count: row.bounceCount,
  suppressed: row.suppressedReason !== null,
  suppressed_reason: row.suppressedReason,
  last_bounce_at: row.lastBounceAt ? iso(row.lastBounceAt) : null,
  created_at: iso(row.createdAt),
  updated_at: iso(row.updatedAt),
});

const ContactName = z.string().trim().min(1).max(200).nullable();
const EmailParam = z.object({ email: EmailAddress.openapi({ param: { name: "email", in: "path" } }) });

export const contactsApi = router();

contactsApi.openapi(
  createRoute({
    method: "get",
    path: "/contacts",
    tags: ["contacts"],
    summary: "List contacts",
    security,
    request: { query: ListQuery },
    responses: { 200: json(listOf(ContactSchema, "ContactList"), "Contacts by address"), ...errorResponses },
  }),
  async (c) => {
    const list = keyset(contacts.email, "asc", c.req.valid("query"));
    const rows = await selectContacts(c.get("db")).where(list.after).orderBy(list.orderBy).limit(list.limit);
    return c.json(
      list.page(rows, (r) => r.email, contactOut),
      200,
    );
  },
);

contactsApi.openapi(
  createRoute({
    method: "post",
    path: "/contacts",
    tags: ["contacts"],
    summary: "Add a contact",
    security,
    request: { body: jsonBody(z.strictObject({ email: EmailAddress, name: ContactName.optional() })) },
    responses: { 201: json(ContactSchema, "Created"), ...conflictResponse, ...errorResponses },
  }),
  async (c) => {
    const { email, name } = c.req.valid("json");
    const now = new Date(c.get("clock")());
    const [row] = await c
      .get("db")
      .insert(contacts)
      .values({ email, name: name ?? null, createdAt: now, updatedAt: now })
      .onConflictDoNothing()
      .returning();
    if (!row) throw new ApiError("conflict", `contact ${email} already exists`);
    return c.json(contactOut({ ...row, suppressedReason: null }), 201);
  },
);

contactsApi.openapi(
  createRoute({
    method: "get",
    path: "/contacts/{email}",
    tags: ["contacts"],
    summary: "Get a contact",
    security,
    request: { params: EmailParam },
    responses: { 200: json(ContactSchema, "The contact"), ...errorResponses },
  }),
  async (c) => {
    const { email } = c.req.valid("param");
    const row = await selectContacts(c.get("db")).where(eq(contacts.email, email)).get();
    if (!row) throw notFound(`contact ${email}`);
    return c.json(contactOut(row), 200);
  },
);

contactsApi.openapi(
  createRoute({
    method: "patch",
    path: "/contacts/{email}",
    tags: ["contacts"],
    summary: "Change a contact (name; suppression)",
    security,
    request: { params: EmailParam, body: jsonBody(z.strictObject({ name: ContactName.optional(), suppressed: z.boolean().optional() })) },
    responses: { 200: json(ContactSchema, "Updated"), ...errorResponses },
  }),
  async (c) => {
    const { email } = c.req.valid("param");
    const body = c.req.valid("json");
    const db = c.get("db");
    const at = new Date(c.get("clock")());
    if (!(await db.select({ email: contacts.email }).from(contacts).where(eq(contacts.email, email)).get())) throw notFound(`contact ${email}`);
    await db.batch([
      db
        .update(contacts)
        .set({ ...(body.name !== undefined && { name: body.name }), updatedAt: at })
        .where(eq(contacts.email, email)),
      // Suppressing by hand says so; lifting a suppression lifts it for every stream and forgets why it was there.
      ...(body.suppressed === true ? [suppressStatement(db, email, "manual", at)] : []),
      ...(body.suppressed === false ? [db.delete(suppressions).where(eq(suppressions.email, email))] : []),
    ]);
    const row = await selectContacts(db).where(eq(contacts.email, email)).get();
    return c.json(contactOut(row!), 200);
  },
);
