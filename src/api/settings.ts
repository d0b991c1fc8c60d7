/** `/v1/settings`: the gateway-wide knobs (Odoo's `mail.gateway.loop.*` and `mail.catchall.domain.allowed`). */
import { createRoute, z } from "@hono/zod-openapi";
import { desc, eq, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { purges, retentionRuns, settings } from "../db/schema";
import { DEFAULT_SETTINGS } from "../inbound/lookup";
import type { RoutingSettings } from "../inbound/route";
import { DEFAULT_RETENTION, type RetentionSettings, recomputeRawExpiry } from "../retention";
import { router } from "./context";
import { PurgeSchema, purgeOut } from "./purges";
import { DomainName, errorResponses, json, jsonBody, security } from "./schemas";

const SettingsSchema = z
  .object({
    loop_minutes: z.number().int(),
    loop_threshold: z.number().int(),
    allowed_domains: z.array(z.string()),
    raw_retention_days: z.number().int().openapi({ description: "Days raw mail stays in R2 (0: forever); aliases may say otherwise" }),
    record_retention_days: z.number().int().openapi({ description: "Days message records stay (0: forever)" }),
  })
  .openapi("Settings");

const SettingsBody = z.strictObject({
  loop_minutes: z.number().int().min(1).max(10_080).optional().openapi({ description: "Window of the sender loop guard (default 120)" }),
  loop_threshold: z.number().int().min(1).max(100_000).optional().openapi({ description: "Messages a sender may put into one target within the window (default 20)" }),
  allowed_domains: z.array(DomainName).max(100).optional().openapi({ description: "Domains on which local-part-only aliases match; empty means any domain" }),
  raw_retention_days: z.number().int().min(0).max(36_500).optional().openapi({ description: "Days raw mail stays in R2 (default 90; 0: forever)" }),
  record_retention_days: z.number().int().min(0).max(36_500).optional().openapi({ description: "Days message records stay in D1 (default 400; 0: forever)" }),
});

/** Every setting: the routing ones and the retention ones. */
type AllSettings = RoutingSettings & RetentionSettings;

/** The stored settings, or the defaults while none were saved (no migration writes the row; PUT does). */
export async function readSettings(db: Db): Promise<AllSettings> {
  const row = await db.select().from(settings).where(eq(settings.id, 1)).get();
  return row
    ? {
        loopMinutes: row.loopMinutes,
        loopThreshold: row.loopThreshold,
        allowedDomains: row.allowedDomains,
        rawRetentionDays: row.rawRetentionDays,
        recordRetentionDays: row.recordRetentionDays,
      }
    : { ...DEFAULT_SETTINGS, ...DEFAULT_RETENTION };
}

function settingsOut(s: AllSettings): z.infer<typeof SettingsSchema> {
  return {
    loop_minutes: s.loopMinutes,
    loop_threshold: s.loopThreshold,
    allowed_domains: s.allowedDomains,
    raw_retention_days: s.rawRetentionDays,
    record_retention_days: s.recordRetentionDays,
  };
}

export const settingsApi = router();

settingsApi.openapi(
  createRoute({
    method: "get",
    path: "/settings",
    tags: ["settings"],
    summary: "Read the settings",
    security,
    responses: { 200: json(SettingsSchema, "The settings"), ...errorResponses },
  }),
  async (c) => c.json(settingsOut(await readSettings(c.get("db"))), 200),
);

settingsApi.openapi(
  createRoute({
    method: "put",
    path: "/settings",
    tags: ["settings"],
    summary: "Change settings (fields left out keep their value)",
    security,
    request: { body: jsonBody(SettingsBody) },
    responses: { 200: json(SettingsSchema, "The settings"), ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const body = c.req.valid("json");
    const current = await readSettings(db);
    const next: AllSettings = {
      loopMinutes: body.loop_minutes ?? current.loopMinutes,
      loopThreshold: body.loop_threshold ?? current.loopThreshold,
      allowedDomains: body.allowed_domains ? [...new Set(body.allowed_domains)] : current.allowedDomains,
      rawRetentionDays: body.raw_retention_days ?? current.rawRetentionDays,
      recordRetentionDays: body.record_retention_days ?? current.recordRetentionDays,
    };
    const values = { ...next, updatedAt: new Date(c.get("clock")()) };
    await db
      .insert(settings)
      .values({ id: 1, ...values })
      .onConflictDoUpdate({ target: settings.id, set: values });
    // Stored raw copies expire by the new setting from now on.
    if (next.rawRetentionDays !== current.rawRetentionDays) await recomputeRawExpiry(db);
    return c.json(settingsOut(next), 200);
  },
);

const RetentionRunsSchema = z
  .object({
    deleted_total: z.object({ raw: z.number().int(), records: z.number().int(), threads: z.number().int() }),
    runs: z
      .array(z.object({ ran_at: z.string(), raw: z.number().int(), records: z.number().int(), threads: z.number().int() }))
      .openapi({ description: "The last 20 sweeps that deleted anything, newest first" }),
    purges: z.array(PurgeSchema).openapi({ description: "The last 20 purges of deleted aliases and domains, newest first" }),
  })
  .openapi("RetentionRuns");

settingsApi.openapi(
  createRoute({
    method: "get",
    path: "/retention",
    tags: ["settings"],
    summary: "What the retention sweeps deleted: totals and the last runs",
    security,
    responses: { 200: json(RetentionRunsSchema, "Retention runs"), ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const [totals, runs, purgeRows] = await db.batch([
      db
        .select({
          raw: sql<number>`coalesce(sum(${retentionRuns.rawDeleted}), 0)`,
          records: sql<number>`coalesce(sum(${retentionRuns.recordsDeleted}), 0)`,
          threads: sql<number>`coalesce(sum(${retentionRuns.threadsDeleted}), 0)`,
        })
        .from(retentionRuns),
      db.select().from(retentionRuns).orderBy(desc(retentionRuns.id)).limit(20),
      db.select().from(purges).orderBy(desc(purges.id)).limit(20),
    ]);
    const total = totals[0] ?? { raw: 0, records: 0, threads: 0 };
    return c.json(
      {
        deleted_total: { raw: Number(total.raw), records: Number(total.records), threads: Number(total.threads) },
        runs: runs.map((r) => ({ ran_at: r.ranAt.toISOString(), raw: r.rawDeleted, records: r.recordsDeleted, threads: r.threadsDeleted })),
        purges: purgeRows.map(purgeOut),
      },
      200,
    );
  },
);
