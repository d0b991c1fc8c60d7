/** `/v1/contacts`: addresses we know (the `known` contact policy), with their bounce state. */
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { contacts } from "../db/schema";
import { router } from "./context";
import { ApiError, notFound } from "./errors";
import { keyset, ListQuery, listOf } from "./pagination";
import { conflictResponse, EmailAddress, errorResponses, iso, json, jsonBody, security, Timestamp } from "./schemas";

type ContactRow = typeof contacts.$inferSelect;

const ContactSchema = z
  .object({
    email: z.string(),
    name: z.string().nullable(),
    bounce_count: z.number().int().openapi({ description: "Bounces counted since the contact last wrote to us (normal mail resets it)" }),
    suppressed: z.boolean().openapi({ description: "The send API refuses this address until it is unsuppressed" }),
    suppressed_reason: z.enum(["hard_bounce", "bounces", "complaint", "manual"]).nullable(),
    last_bounce_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Contact");

const contactOut = (row: ContactRow): z.infer<typeof ContactSchema> => ({
  email: row.email,
  name: row.name,
  bounce_count: row.bounceCount,
  suppressed: row.suppressed,
  suppressed_reason: row.suppressed ? row.suppressedReason : null,
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
    const rows = await c.get("db").select().from(contacts).where(list.after).orderBy(list.orderBy).limit(list.limit);
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
    return c.json(contactOut(row), 201);
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
    const row = await c.get("db").select().from(contacts).where(eq(contacts.email, email)).get();
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
    const [row] = await c
      .get("db")
      .update(contacts)
      .set({
        ...(body.name !== undefined && { name: body.name }),
        // Suppressing by hand says so; lifting a suppression forgets why it was there.
        ...(body.suppressed !== undefined && { suppressed: body.suppressed, suppressedReason: body.suppressed ? "manual" : null }),
        updatedAt: new Date(c.get("clock")()),
      })
      .where(eq(contacts.email, email))
      .returning();
    if (!row) throw notFound(`contact ${email}`);
    return c.json(contactOut(row), 200);
  },
);
