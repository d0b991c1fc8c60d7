/** The aliases that could make some addresses ours (src/mail/own-address.ts): one statement for the caller's batch. */
import { eq, inArray, or, type SQLWrapper } from "drizzle-orm";
import { type Db, inJson } from "./client";
import { aliases } from "./schema";

/** `addresses`: a list, or a subquery of one column of addresses. */
export function ownAliasesQuery(db: Db, addresses: string[] | SQLWrapper) {
  return db
    .select({ address: aliases.address, name: aliases.name, localPartOnly: aliases.localPartOnly })
    .from(aliases)
    .where(or(Array.isArray(addresses) ? inJson(aliases.address, addresses) : inArray(aliases.address, addresses), eq(aliases.localPartOnly, true)));
}
