import { type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
export type Db = ReturnType<typeof database>;

/** Query builder over D1 (no relational schema: every query is written out, so none is extracted per call). */
export function database(d1: D1Database) {
  return drizzle(d1);
}

/**
 * `column IN (values)` with the values bound as one JSON array, so a list of
 * any length costs one of D1's 100 bound parameters.
 */
export function inJson(column: SQLWrapper, values: readonly string[]): SQL {
  return sql`${column} in (select value from json_each(${JSON.stringify(values)}))`;
}

/**
 * Whether a D1 error (drizzle wraps it; the cause holds D1's message) is a
 * UNIQUE constraint failure, optionally on the given index or column.
 */
export function isUniqueViolation(error: unknown, on = ""): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.message.includes(`UNIQUE constraint failed: ${on}`)) return true;
  }
  return false;
}

/** Rows per multi-row insert: D1 binds at most 100 parameters per statement. */
export function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}
