/**
 * The domain check's effects: read what mailgate knows of the domain from
 * D1, ask the DNS questions the rules need through DNS-over-HTTPS
 * (src/dns.ts, the resolver at `DOH_URL`), walk the SPF record, and hand it
 * all to the pure rules (src/domain-check/rules.ts).
 */
import { asc, eq, or } from "drizzle-orm";
import type { Db } from "../db/client";
import { aliases, domains, relays } from "../db/schema";
import { DEFAULT_DOH_URL, type DnsAnswer, dohResolver, type Resolve } from "../dns";
import { type CheckItem, type CheckStatus, checkItems, questionsFor, summarize } from "./rules";
import { walkSpf } from "./spf";

export interface DomainCheck {
  domain: string;
  checked_at: string;
  summary: Record<CheckStatus, number>;
  items: CheckItem[];
}

/**
 * Checks a domain mailgate serves; null when it serves no such domain.
 * `resolve` defaults to the DoH resolver at `dohUrl` (Cloudflare's when
 * unset).
 */
export async function runDomainCheck(input: {
  db: Db;
  name: string;
  now: number;
  publicUrl: string | null;
  dohUrl: string | null;
  resolve?: Resolve;
}): Promise<DomainCheck | null> {
  const { db, name } = input;
  const [domain, aliasRows, relayRows] = await Promise.all([
    db.select().from(domains).where(eq(domains.name, name)).get(),
    db
      .select({
        address: aliases.address,
        name: aliases.name,
        domain: aliases.domain,
        localPartOnly: aliases.localPartOnly,
        enabled: aliases.enabled,
        destinations: aliases.destinations,
      })
      .from(aliases)
      .where(or(eq(aliases.domain, name), eq(aliases.localPartOnly, true))),
    db
      .select({
        id: relays.id,
        name: relays.name,
        type: relays.type,
        fromFilter: relays.fromFilter,
        sequence: relays.sequence,
        stream: relays.stream,
        enabled: relays.enabled,
        config: relays.config,
      })
      .from(relays)
      .orderBy(asc(relays.sequence), asc(relays.id)),
  ]);
  if (!domain) return null;
  const config = { domain, aliases: aliasRows, relays: relayRows, publicUrl: input.publicUrl };
  const resolve = input.resolve ?? dohResolver(input.dohUrl || DEFAULT_DOH_URL);
  const questions = questionsFor(config);
  const [answered, spf] = await Promise.all([Promise.all(questions.map(async (q) => [`${q.name} ${q.type}`, await resolve(q.name, q.type)] as const)), walkSpf(name, resolve)]);
  const byQuestion = new Map<string, DnsAnswer>(answered);
  const answers = (question: string, type: string): DnsAnswer =>
    byQuestion.get(`${question} ${type}`) ?? { kind: "failed", cause: "resolver", reason: `${type} ${question} was not asked (a bug in the check)` };
  const now = new Date(input.now);
  const items = checkItems({ config, answers, spf, today: now.toISOString().slice(0, 10).replaceAll("-", "") });
  return { domain: name, checked_at: now.toISOString(), summary: summarize(items), items };
}
