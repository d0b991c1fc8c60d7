/** Purging a deleted alias's or domain's stored mail (`?purge=true`): asked for here, carried out by the retention sweep (src/retention.ts). */
import { z } from "@hono/zod-openapi";
import type { Db } from "../db/client";
import { purges } from "../db/schema";
import { iso, Timestamp } from "./schemas";

export const PurgeQuery = z.object({
  purge: z
    .enum(["true", "false"])
    .optional()
    .transform((value) => value === "true")
    .openapi({ description: "true: delete its stored mail too (raw copies and records), in the next retention sweeps" }),
});

export const PurgeSchema = z
  .object({
    id: z.number().int(),
    kind: z.enum(["alias", "domain"]),
    target: z.string(),
    requested_at: Timestamp,
    done_at: Timestamp.nullable(),
    deleted: z.number().int().openapi({ description: "Messages deleted so far" }),
  })
  .openapi("Purge");

export type PurgeRow = typeof purges.$inferSelect;

/** A purge as the API shows it (here, and in `GET /v1/retention`). */
export function purgeOut(row: PurgeRow): z.infer<typeof PurgeSchema> {
  return { id: row.id, kind: row.kind, target: row.target, requested_at: iso(row.requestedAt), done_at: row.doneAt ? iso(row.doneAt) : null, deleted: row.deleted };
}

/** Records the purge the sweeps will carry out (bounded batches, resumable), and answers it. */
export async function requestPurge(db: Db, kind: "alias" | "domain", target: string, now: number): Promise<z.infer<typeof PurgeSchema>> {
  const [row] = await db
    .insert(purges)
    .values({ kind, target, requestedAt: new Date(now) })
    .returning();
  return purgeOut(row!);
}
