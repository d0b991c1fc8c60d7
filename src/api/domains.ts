/** `/v1/domains`: the mail domains we serve (Odoo's alias domains). */
import { createRoute, z } from "@hono/zod-openapi";
import { and, eq, inArray } from "drizzle-orm";
import { aliases, domains } from "../db/schema";
import { notificationsAddress } from "../outbound/plan";
import { router } from "./context";
import { ApiError, notFound } from "./errors";
import { keyset, ListQuery, listOf } from "./pagination";
import { PurgeQuery, PurgeSchema, requestPurge } from "./purges";
import { conflictResponse, DomainName, EmailAddress, errorResponses, firstIssue, iso, json, jsonBody, LocalPart, security, Timestamp } from "./schemas";

type DomainRow = typeof domains.$inferSelect;

const DomainSchema = z
  .object({
    name: z.string(),
    company_name: z.string().nullable(),
    catchall: z.string(),
    bounce: z.string(),
    default_from: z.string(),
    contact_email: z.string().nullable(),
    sequence: z.number().int(),
    catchall_address: z.string(),
    bounce_address: z.string(),
    default_from_address: z.string(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Domain");

/**
 * A stored domain as the API answers it, with the catchall, bounce and
 * notifications addresses spelled out, so clients need not rebuild them
 * from local parts.
 */
export function domainOut(row: DomainRow): z.infer<typeof DomainSchema> {
  return {
    name: row.name,
    company_name: row.companyName,
    catchall: row.catchall,
    bounce: row.bounce,
    default_from: row.defaultFrom,
    contact_email: row.contactEmail,
    sequence: row.sequence,
    catchall_address: `${row.catchall}@${row.name}`,
    bounce_address: `${row.bounce}@${row.name}`,
    default_from_address: notificationsAddress(row),
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

const NameParam = z.object({ name: DomainName.openapi({ param: { name: "name", in: "path" } }) });

const DomainBody = z.strictObject({
  company_name: z.string().trim().min(1).max(200).nullable().optional(),
  catchall: LocalPart.optional(),
  bounce: LocalPart.optional(),
  default_from: z
    .string()
    .trim()
    .min(1)
    .max(320)
    .transform((value, ctx) => {
      if (!value.includes("@")) {
        const local = LocalPart.safeParse(value);
        if (local.success) return local.data;
        ctx.addIssue({ code: "custom", message: `"${value.slice(0, 100)}" must be a local part (letters, digits and !#$%&'*+-/=?^_\`{|}~, dots between) or one address` });
        return z.NEVER;
      }
      const address = EmailAddress.safeParse(value);
      if (address.success) return address.data;
      ctx.addIssue({ code: "custom", message: firstIssue(address.error) });
      return z.NEVER;
    })
    .optional()
    .openapi({ description: "A local part (`notifications`) or a full address" }),
  contact_email: EmailAddress.nullable().optional().openapi({ description: "Where people should write instead of the catchall" }),
  sequence: z.number().int().min(0).max(1_000_000).optional(),
});

export const domainsApi = router();

domainsApi.openapi(
  createRoute({
    method: "put",
    path: "/domains/{name}",
    tags: ["domains"],
    summary: "Create or update a domain",
    security,
    request: { params: NameParam, body: jsonBody(DomainBody) },
    responses: { 200: json(DomainSchema, "Updated"), 201: json(DomainSchema, "Created"), ...conflictResponse, ...errorResponses },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const body = c.req.valid("json");
    const db = c.get("db");
    const existing = await db.select().from(domains).where(eq(domains.name, name)).get();
    const catchall = body.catchall ?? existing?.catchall ?? "catchall";
    const bounce = body.bounce ?? existing?.bounce ?? "bounce";
    if (catchall === bounce) throw new ApiError("invalid_request", "catchall and bounce must be different local parts");
    const taken = await db
      .select({ address: aliases.address })
      .from(aliases)
      .where(and(eq(aliases.domain, name), inArray(aliases.name, [catchall, bounce])))
      .get();
    if (taken) throw new ApiError("conflict", `the alias ${taken.address} already uses that local part`);
    const now = new Date(c.get("clock")());
    const values = {
      companyName: body.company_name === undefined ? (existing?.companyName ?? null) : body.company_name,
      catchall,
      bounce,
      defaultFrom: body.default_from ?? existing?.defaultFrom ?? "notifications",
      contactEmail: body.contact_email === undefined ? (existing?.contactEmail ?? null) : body.contact_email,
      sequence: body.sequence ?? existing?.sequence ?? 10,
      updatedAt: now,
    };
    const [row] = await db
      .insert(domains)
      .values({ name, ...values, createdAt: now })
      .onConflictDoUpdate({ target: domains.name, set: values })
      .returning();
    return c.json(domainOut(row!), existing ? 200 : 201);
  },
);

domainsApi.openapi(
  createRoute({
    method: "get",
    path: "/domains",
    tags: ["domains"],
    summary: "List domains",
    security,
    request: { query: ListQuery },
    responses: { 200: json(listOf(DomainSchema, "DomainList"), "Domains by name"), ...errorResponses },
  }),
  async (c) => {
    const list = keyset(domains.name, "asc", c.req.valid("query"));
    const rows = await c.get("db").select().from(domains).where(list.after).orderBy(list.orderBy).limit(list.limit);
    return c.json(
      list.page(rows, (r) => r.name, domainOut),
      200,
    );
  },
);

domainsApi.openapi(
  createRoute({
    method: "get",
    path: "/domains/{name}",
    tags: ["domains"],
    summary: "Get a domain",
    security,
    request: { params: NameParam },
    responses: { 200: json(DomainSchema, "The domain"), ...errorResponses },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const row = await c.get("db").select().from(domains).where(eq(domains.name, name)).get();
    if (!row) throw notFound(`domain ${name}`);
    return c.json(domainOut(row), 200);
  },
);

domainsApi.openapi(
  createRoute({
    method: "delete",
    path: "/domains/{name}",
    tags: ["domains"],
    summary: "Delete a domain that has no aliases (purge=true: its stored mail, to or from it, is deleted by the next retention sweeps)",
    security,
    request: { params: NameParam, query: PurgeQuery },
    responses: { 204: { description: "Deleted" }, 202: json(PurgeSchema, "Deleted; its mail is being purged"), ...conflictResponse, ...errorResponses },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const db = c.get("db");
    const alias = await db.select({ address: aliases.address }).from(aliases).where(eq(aliases.domain, name)).get();
    if (alias) throw new ApiError("conflict", `domain ${name} still has aliases (${alias.address}); delete them first`);
    const deleted = await db.delete(domains).where(eq(domains.name, name)).returning({ name: domains.name });
    if (!deleted.length) throw notFound(`domain ${name}`);
    if (!c.req.valid("query").purge) return c.body(null, 204);
    return c.json(await requestPurge(db, "domain", name, c.get("clock")()), 202);
  },
);
