/**
 * The shard seam: which database holds a mail domain's records. Today one
 * D1 database holds every domain, so this answers it; when one database is
 * not enough (README, Scaling), this is the one place that maps a domain
 * to its database (a D1 binding per domain group, or a Durable Object per
 * domain), and routing and recording of inbound mail already go through it.
 * What is global (settings, relays, API keys) stays on `database(env.DB)`.
 */
import type { Env } from "../env";
import { type Db, database } from "./client";

/** The database holding the records of mail for `domain` (the envelope recipient's). */
export function storeFor(env: Pick<Env, "DB">, _domain: string): Db {
  return database(env.DB);
}
