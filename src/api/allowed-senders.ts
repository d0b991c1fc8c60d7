/** `/v1/allowed-senders`: senders the loop guard never stops (Odoo's `mail.gateway.allowed`). */
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { allowedSenders } from "../db/schema";
import { router } from "./context";
import { notFound } from "./errors";
import { keyset, ListQuery, listOf } from "./pagination";
import { EmailAddress, errorResponses, iso, json, jsonBody, security, Timestamp } from "./schemas";

const AllowedSenderSchema = z.object({ email: z.string(), created_at: Timestamp }).openapi("AllowedSender");

const allowedOut = (row: typeof allowedSenders.$inferSelect) => ({ email: row.email, created_at: iso(row.createdAt) });

export const allowedSendersApi = router();

allowedSendersApi.openapi(
  createRoute({
    method: "get",
    path: "/allowed-senders",
    tags: ["allowed-senders"],
    summary: "List allowed senders",
    security,
    request: { query: ListQuery },
    responses: { 200: json(listOf(AllowedSenderSchema, "AllowedSenderList"), "Allowed senders by address"), ...errorResponses },
  }),
  async (c) => {
    const list = keyset(allowedSenders.email, "asc", c.req.valid("query"));
    const rows = await c.get("db").select().from(allowedSenders).where(list.after).orderBy(list.orderBy).limit(list.limit);
    return c.json(
      list.page(rows, (r) => r.email, allowedOut),
      200,
    );
  },
);

allowedSendersApi.openapi(
  createRoute({
    method: "post",
    path: "/allowed-senders",
    tags: ["allowed-senders"],
    summary: "Exempt a sender from the loop guard",
    security,
    request: { body: jsonBody(z.strictObject({ email: EmailAddress })) },
    responses: { 200: json(AllowedSenderSchema, "Already allowed"), 201: json(AllowedSenderSchema, "Allowed"), ...errorResponses },
  }),
  async (c) => {
    const { email } = c.req.valid("json");
    const db = c.get("db");
    const inserted = await db
      .insert(allowedSenders)
      .values({ email, createdAt: new Date(c.get("clock")()) })
      .onConflictDoNothing()
      .returning();
    if (inserted[0]) return c.json(allowedOut(inserted[0]), 201);
    const row = await db.select().from(allowedSenders).where(eq(allowedSenders.email, email)).get();
    return c.json(allowedOut(row!), 200);
  },
);

allowedSendersApi.openapi(
  createRoute({
    method: "delete",
    path: "/allowed-senders/{email}",
    tags: ["allowed-senders"],
    summary: "Remove an allowed sender",
    security,
    request: { params: z.object({ email: EmailAddress.openapi({ param: { name: "email", in: "path" } }) }) },
    responses: { 204: { description: "Removed" }, ...errorResponses },
  }),
  async (c) => {
    const { email } = c.req.valid("param");
    const deleted = await c.get("db").delete(allowedSenders).where(eq(allowedSenders.email, email)).returning();
    if (!deleted.length) throw notFound(`allowed sender ${email}`);
    return c.body(null, 204);
  },
);
