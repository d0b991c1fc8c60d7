/**
 * Keyset pagination, the one way every list endpoint pages: rows ordered
 * by a unique key (ids sort by creation time, so `desc` is newest first;
 * names and addresses alphabetically), the cursor is the last key of a
 * page, and one row more than the limit is read to know whether a next
 * page exists. A cursor stays valid however rows are added meanwhile.
 */
import { z } from "@hono/zod-openapi";
import { asc, desc, gt, lt, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ example: 50 }),
  cursor: z.string().max(400).optional(),
});

/** The page schema every list endpoint answers, `{ items, next_cursor }`; `name` makes it an OpenAPI component of its own. */
export function listOf<T extends z.ZodType>(item: T, name: string) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() }).openapi(name);
}

export interface Keyset {
  /** Rows after the cursor (undefined on the first page): add it to the query's conditions. */
  after: SQL | undefined;
  orderBy: SQL;
  /** How many rows to read: one more than the page. */
  limit: number;
  /** `{ items, next_cursor }` from the rows read; `cursorOf` gives a row's key. */
  page<Row, Out>(rows: Row[], cursorOf: (row: Row) => string, serialize: (row: Row) => Out): { items: Out[]; next_cursor: string | null };
}

/** A page after `cursor`: a strict `>` or `<` on a unique key, so no row is skipped or shown twice when rows are added between pages. */
export function keyset(key: SQLiteColumn, order: "asc" | "desc", { limit, cursor }: z.infer<typeof ListQuery>): Keyset {
  return {
    after: cursor === undefined ? undefined : order === "asc" ? gt(key, cursor) : lt(key, cursor),
    orderBy: order === "asc" ? asc(key) : desc(key),
    limit: limit + 1,
    page(rows, cursorOf, serialize) {
      const items = rows.slice(0, limit);
      // One argument only: a serializer with optional parameters (aliasOut's new secret) must never get the index.
      return { items: items.map((row) => serialize(row)), next_cursor: rows.length > limit ? cursorOf(items[items.length - 1]!) : null };
    },
  };
}
