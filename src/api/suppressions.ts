/** `/v1/suppressions`: who gets no more mail, for which stream, and why (src/suppressions.ts). */
import { createRoute, z } from "@hono/zod-openapi";
import { and, eq, gt, or } from "drizzle-orm";
import { suppressions } from "../db/schema";
import { SUPPRESSION_REASONS } from "../model";
import { EVERY_STREAM } from "../suppressions";
import { router } from "./context";
import { notFound } from "./errors";
import { ListQuery, listOf } from "./pagination";
import { EmailAddress, errorResponses, iso, json, security, Timestamp } from "./schemas";

const SuppressionSchema = z
  .object({
    email: z.string(),
    reason: z.enum(SUPPRESSION_REASONS),
    stream: z.enum(["transactional", "mass"]).nullable().openapi({ description: "null: every stream" }),
    provider_relay_id: z.string().nullable().openapi({ description: "The relay whose provider suppresses the address too: lifting it here does not lift it there" }),
    created_at: Timestamp,
  })
  .openapi("Suppression");

type SuppressionRow = typeof suppressions.$inferSelect;

const suppressionOut = (row: SuppressionRow): z.infer<typeof SuppressionSchema> => ({
  email: row.email,
  reason: row.reason,
  stream: row.stream === EVERY_STREAM ? null : (row.stream as "transactional" | "mass"),
  provider_relay_id: row.relayId,
  created_at: iso(row.createdAt),
});

const ListSuppressionsQuery = ListQuery.extend({
  reason: z.enum(SUPPRESSION_REASONS).optional(),
  stream: z.enum(["transactional", "mass", "all"]).optional().openapi({ description: "A stream's own suppressions, or `all` for those of every stream" }),
});

export const suppressionsApi = router();

suppressionsApi.openapi(
  createRoute({
    method: "get",
    path: "/suppressions",
    tags: ["suppressions"],
    summary: "List suppressions, by address",
    security,
    request: { query: ListSuppressionsQuery },
    responses: { 200: json(listOf(SuppressionSchema, "SuppressionList"), "Suppressions"), ...errorResponses },
  }),
  async (c) => {
    const { reason, stream, limit, cursor } = c.req.valid("query");
    // The cursor is `<email> <stream>`: the key of the last row, as rows sort.
    const [email, scope = ""] = cursor?.split(" ") ?? [];
    const after = cursor ? or(gt(suppressions.email, email!), and(eq(suppressions.email, email!), gt(suppressions.stream, scope))) : undefined;
    const rows = await c
      .get("db")
      .select()
      .from(suppressions)
      .where(and(after, reason ? eq(suppressions.reason, reason) : undefined, stream ? eq(suppressions.stream, stream === "all" ? EVERY_STREAM : stream) : undefined))
      .orderBy(suppressions.email, suppressions.stream)
      .limit(limit + 1);
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return c.json({ items: items.map(suppressionOut), next_cursor: rows.length > limit && last ? `${last.email} ${last.stream}` : null }, 200);
  },
);

suppressionsApi.openapi(
  createRoute({
    method: "delete",
    path: "/suppressions/{email}",
    tags: ["suppressions"],
    summary: "Lift an address's suppressions (every stream, or one); says whether a provider still holds it",
    security,
    request: {
      params: z.object({ email: EmailAddress.openapi({ param: { name: "email", in: "path" } }) }),
      query: z.object({ stream: z.enum(["transactional", "mass", "all"]).optional() }),
    },
    responses: {
      200: json(z.object({ lifted: z.array(SuppressionSchema), provider_still_holds: z.array(z.string()) }).openapi("LiftedSuppressions"), "Lifted"),
      ...errorResponses,
    },
  }),
  async (c) => {
    const { email } = c.req.valid("param");
    const { stream } = c.req.valid("query");
    const lifted = await c
      .get("db")
      .delete(suppressions)
      .where(and(eq(suppressions.email, email), stream ? eq(suppressions.stream, stream === "all" ? EVERY_STREAM : stream) : undefined))
      .returning();
    if (!lifted.length) throw notFound(`suppression of ${email}`);
    // We cannot lift a provider's own list: the operator has to, at the provider.
    const providers = [...new Set(lifted.flatMap((s) => (s.relayId ? [s.relayId] : [])))];
    return c.json({ lifted: lifted.map(suppressionOut), provider_still_holds: providers }, 200);
  },
);
