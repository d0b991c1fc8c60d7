/** `GET /v1/usage` (admin token): D1's size and rows, R2's objects, mail per day, queue backlog, and when D1 fills (src/usage.ts). */
import { createRoute, z } from "@hono/zod-openapi";
import { D1_LIMIT_BYTES, readUsage, USAGE_DAYS, usageOf, usageWarnings } from "../usage";
import { router } from "./context";
import { errorResponses, json, security } from "./schemas";
import { readSettings } from "./settings";

const Count = z.number().int().min(0);
const UtcDate = z.string().openapi({ example: "2026-11-21", description: "A UTC date, YYYY-MM-DD" });

const UsageSchema = z
  .object({
    d1: z.object({
      bytes: Count.openapi({ description: "The database's size as D1 reports it (`meta.size_after` of a query)" }),
      limit_bytes: Count.openapi({ description: "D1's per-database limit on the Paid plan (10 GB), which cannot be raised" }),
      rows: z.record(z.string(), Count).openapi({ description: "`count(*)` of each table, by table name", example: { messages: 1200, deliveries: 1500 } }),
    }),
    r2: z
      .object({
        objects: Count,
        bytes: Count,
      })
      .openapi({ description: "Raw copies of mail, tracked at write time: messages with a stored raw copy, and the sum of their sizes (R2 is not listed)" }),
    messages_per_day: z
      .array(z.object({ date: UtcDate, in: Count, out: Count }))
      .openapi({ description: `Messages recorded per UTC day, inbound and outbound, the last ${USAGE_DAYS} days with today last (zeros included)` }),
    backlog: z
      .object({
        due: Count.openapi({ description: "Outbound messages queued and pending deliveries (webhooks, notifications, event hooks) whose next attempt is due" }),
        overdue: Count.openapi({ description: "Of those, the ones due more than 10 minutes ago (the sweepers' threshold)" }),
      })
      .openapi({ description: "Queue work waiting" }),
    d1_full_at: UtcDate.nullable().openapi({
      description:
        "When D1 reaches limit_bytes at the current rate: bytes per message (bytes / messages rows) × messages per day (mean of the last 7 full days); null with no growth, or when record retention holds D1 below the limit",
    }),
  })
  .openapi("Usage");

export const usageApi = router();

usageApi.openapi(
  createRoute({
    method: "get",
    path: "/usage",
    tags: ["usage"],
    summary: "Storage, traffic and backlog: how full D1 is and when it fills",
    description: "Reads every table's row count in one D1 batch (a scan of each table): for an operator's look, not for polling.",
    security,
    responses: { 200: json(UsageSchema, "Usage"), ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const now = c.get("clock")();
    // `record_retention_days` (0: kept forever) bounds D1's growth: the projection takes it into account.
    const [reading, settings] = await Promise.all([readUsage(db, now), readSettings(db)]);
    const usage = usageOf(reading, now, settings.recordRetentionDays);
    for (const warning of usageWarnings(usage.d1.bytes, D1_LIMIT_BYTES, usage.d1_full_at, now)) console.warn(`mailgate: ${warning}`);
    return c.json(usage, 200);
  },
);
