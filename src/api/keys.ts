/** `/v1/keys`: API keys for the send API, shown once, stored hashed, optionally limited to From domains. */
import { createRoute, z } from "@hono/zod-openapi";
import { and, eq, isNull } from "drizzle-orm";
import { apiKeys } from "../db/schema";
import { sha256Hex } from "../hash";
import { newId } from "../ids";
import { newApiKey } from "./auth";
import { router } from "./context";
import { notFound } from "./errors";
import { keyset, ListQuery, listOf } from "./pagination";
import { DomainName, errorResponses, iso, json, jsonBody, security, Timestamp } from "./schemas";

type KeyRow = typeof apiKeys.$inferSelect;

const KeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().openapi({ description: "The key's first characters, to tell keys apart" }),
    from_domains: z.array(z.string()).nullable(),
    created_at: Timestamp,
  })
  .openapi("ApiKey");

const CreatedKeySchema = KeySchema.extend({ key: z.string().openapi({ description: "The key itself: shown this once, never again" }) }).openapi("CreatedApiKey");

const keyOut = (row: KeyRow): z.infer<typeof KeySchema> => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  from_domains: row.fromDomains,
  created_at: iso(row.createdAt),
});

export const keysApi = router();

keysApi.openapi(
  createRoute({
    method: "post",
    path: "/keys",
    tags: ["keys"],
    summary: "Create an API key (the key is in this answer only)",
    security,
    request: {
      body: jsonBody(
        z.strictObject({
          name: z.string().trim().min(1).max(200),
          from_domains: z.array(DomainName).min(1).max(100).optional().openapi({ description: "From domains the key may send as; all when left out" }),
        }),
      ),
    },
    responses: { 201: json(CreatedKeySchema, "Created"), ...errorResponses },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const key = newApiKey();
    const [row] = await c
      .get("db")
      .insert(apiKeys)
      .values({
        id: newId("key"),
        name: body.name,
        hash: await sha256Hex(key),
        prefix: key.slice(0, 12),
        fromDomains: body.from_domains ? [...new Set(body.from_domains)] : null,
        createdAt: new Date(c.get("clock")()),
      })
      .returning();
    return c.json({ ...keyOut(row!), key }, 201);
  },
);

keysApi.openapi(
  createRoute({
    method: "get",
    path: "/keys",
    tags: ["keys"],
    summary: "List API keys that are not revoked",
    security,
    request: { query: ListQuery },
    responses: { 200: json(listOf(KeySchema, "ApiKeyList"), "Keys, newest first"), ...errorResponses },
  }),
  async (c) => {
    const list = keyset(apiKeys.id, "desc", c.req.valid("query"));
    const rows = await c
      .get("db")
      .select()
      .from(apiKeys)
      .where(and(isNull(apiKeys.revokedAt), list.after))
      .orderBy(list.orderBy)
      .limit(list.limit);
    return c.json(
      list.page(rows, (r) => r.id, keyOut),
      200,
    );
  },
);

keysApi.openapi(
  createRoute({
    method: "delete",
    path: "/keys/{id}",
    tags: ["keys"],
    summary: "Revoke an API key",
    security,
    request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) }) },
    responses: { 204: { description: "Revoked" }, ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const revoked = await c
      .get("db")
      .update(apiKeys)
      .set({ revokedAt: new Date(c.get("clock")()) })
      .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    if (!revoked.length) throw notFound(`API key ${id}`);
    return c.body(null, 204);
  },
);
