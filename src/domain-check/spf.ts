/**
 * SPF (RFC 7208) as the domain check needs it: parse a record, and walk its
 * includes and redirects counting the DNS lookups a receiver would make,
 * against the limit of 10 (4.6.4). Nothing is evaluated against an IP
 * address: the question is whether the record can be evaluated at all, and
 * what it includes. The resolver is passed in, so the walk is tested with
 * a table.
 */
import type { DnsAnswer, Resolve } from "../dns";

export type SpfQualifier = "+" | "-" | "~" | "?";
export const SPF_MECHANISMS = ["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"] as const;
export type SpfMechanismName = (typeof SPF_MECHANISMS)[number];

export type SpfTerm = { kind: "mechanism"; qualifier: SpfQualifier; name: SpfMechanismName; value: string | null } | { kind: "modifier"; name: string; value: string };

export type SpfParse = { ok: true; terms: SpfTerm[] } | { ok: false; reason: string };

/** Mechanisms that cost a DNS lookup (RFC 7208 4.6.4); `redirect` does too. */
const COUNTED: ReadonlySet<SpfMechanismName> = new Set(["include", "a", "mx", "ptr", "exists"]);
/** RFC 7208 4.6.4: more than 10 lookups is a permerror. */
export const SPF_LOOKUP_LIMIT = 10;
/** RFC 7208 4.6.4: more than 2 lookups that find nothing is a permerror. */
export const SPF_VOID_LIMIT = 2;
/** Includes nested deeper than this are not followed (a loop or a pathological chain is over 10 lookups long before). */
const MAX_DEPTH = 10;

/** A TXT string that is an SPF record: `v=spf1` alone or followed by a space (RFC 7208 4.5). */
export function isSpfRecord(text: string): boolean {
  return /^v=spf1( |$)/i.test(text);
}

/** The terms of a record (RFC 7208 12, the ABNF), or why it cannot be read. */
export function parseSpf(record: string): SpfParse {
  if (!isSpfRecord(record)) return { ok: false, reason: "it does not start with v=spf1" };
  const terms: SpfTerm[] = [];
  for (const word of record.slice(6).split(" ").filter(Boolean)) {
    const modifier = /^([a-z][a-z0-9_.-]*)=(.*)$/i.exec(word);
    if (modifier) {
      const name = modifier[1]!.toLowerCase();
      if ((name === "redirect" || name === "exp") && terms.some((t) => t.kind === "modifier" && t.name === name)) return { ok: false, reason: `${name}= appears twice` };
      terms.push({ kind: "modifier", name, value: modifier[2]! });
      continue;
    }
    const mechanism = /^([+\-~?]?)([a-z0-9]+)([:/].*)?$/i.exec(word);
    const name = mechanism ? mechanism[2]!.toLowerCase() : "";
    if (!mechanism || !SPF_MECHANISMS.includes(name as SpfMechanismName)) return { ok: false, reason: `"${word.slice(0, 60)}" is not an SPF mechanism` };
    const rest = mechanism[3] ?? null;
    const value = rest?.startsWith(":") ? rest.slice(1) : rest;
    if ((name === "include" || name === "exists") && !value) return { ok: false, reason: `${name} needs a domain (${name}:example.com)` };
    if ((name === "ip4" || name === "ip6") && !value) return { ok: false, reason: `${name} needs an address` };
    if (name === "all" && value) return { ok: false, reason: `"${word.slice(0, 60)}": all takes no argument` };
    terms.push({ kind: "mechanism", qualifier: (mechanism[1] || "+") as SpfQualifier, name: name as SpfMechanismName, value });
  }
  return { ok: true, terms };
}

export type SpfProblem = { severity: "fail" | "warn"; text: string };

/** What a receiver would find walking the domain's SPF record. */
export type SpfWalk =
  | { outcome: "none"; answer: Exclude<DnsAnswer, { kind: "failed" }> }
  | { outcome: "multiple"; records: string[] }
  | { outcome: "lookup_failed"; answer: Extract<DnsAnswer, { kind: "failed" }> }
  | {
      outcome: "walked";
      record: string;
      /** DNS lookups counted (include, a, mx, ptr, exists, redirect), up to where the walk stopped past the limit. */
      lookups: number;
      /** Includes and redirects that found no SPF record (or no name). */
      voidLookups: number;
      /** Every domain included or redirected to, nested ones too, as written. */
      includes: string[];
      /** The `all` that ends evaluation (through redirects), null when there is none (the result is then neutral). */
      all: SpfQualifier | null;
      problems: SpfProblem[];
    };

type Fetched =
  | { kind: "record"; record: string }
  | { kind: "none"; answer: Exclude<DnsAnswer, { kind: "failed" }> }
  | { kind: "multiple"; records: string[] }
  | { kind: "failed"; answer: Extract<DnsAnswer, { kind: "failed" }> };

async function fetchSpf(domain: string, resolve: Resolve): Promise<Fetched> {
  const answer = await resolve(domain, "TXT");
  switch (answer.kind) {
    case "failed":
      return { kind: "failed", answer };
    case "nxdomain":
    case "no_records":
      return { kind: "none", answer };
    case "records": {
      const records = answer.records.filter(isSpfRecord);
      if (records.length > 1) return { kind: "multiple", records };
      return records[0] === undefined ? { kind: "none", answer } : { kind: "record", record: records[0] };
    }
  }
}

interface WalkState {
  resolve: Resolve;
  lookups: number;
  voidLookups: number;
  includes: string[];
  problems: SpfProblem[];
}

/**
 * Counts one record's lookups and follows its includes and redirect; returns
 * the `all` that ends it (a redirect's when it has none). `path`: the domains
 * being walked, to stop a loop.
 */
async function walkRecord(record: string, domain: string, path: string[], state: WalkState): Promise<SpfQualifier | null> {
  const parsed = parseSpf(record);
  if (!parsed.ok) {
    state.problems.push({ severity: "fail", text: `${path.length > 1 ? `the record of ${domain}: ` : ""}${parsed.reason} (permerror)` });
    return null;
  }
  let all: SpfQualifier | null = null;
  for (const term of parsed.terms) {
    if (term.kind !== "mechanism") continue;
    if (term.name === "all") all ??= term.qualifier;
    if (!COUNTED.has(term.name)) continue;
    state.lookups += 1;
    if (term.name === "ptr" && path.length === 1) state.problems.push({ severity: "warn", text: "ptr is slow and unreliable; RFC 7208 5.5 says not to use it" });
    if (term.name === "include") await follow(term.value!, path, state);
  }
  const redirect = parsed.terms.find((t): t is Extract<SpfTerm, { kind: "modifier" }> => t.kind === "modifier" && t.name === "redirect");
  // RFC 7208 6.1: redirect is ignored when the record has an all mechanism.
  if (redirect && all === null) {
    state.lookups += 1;
    return follow(redirect.value, path, state);
  }
  return all;
}

async function follow(target: string, path: string[], state: WalkState): Promise<SpfQualifier | null> {
  state.includes.push(target);
  if (state.lookups > SPF_LOOKUP_LIMIT) return null;
  if (target.includes("%")) return null; // a macro, expanded per message: nothing to follow here
  const name = target.toLowerCase().replace(/\.$/, "");
  if (path.includes(name)) {
    state.problems.push({ severity: "fail", text: `${path.at(-1)} includes ${name} again: a loop` });
    return null;
  }
  if (path.length >= MAX_DEPTH) {
    state.problems.push({ severity: "fail", text: `includes nested more than ${MAX_DEPTH} deep at ${name}` });
    return null;
  }
  const fetched = await fetchSpf(name, state.resolve);
  switch (fetched.kind) {
    case "failed":
      state.problems.push({ severity: fetched.answer.cause === "resolver" ? "warn" : "fail", text: `the lookup of ${name} failed: ${fetched.answer.reason}` });
      return null;
    case "none":
      // RFC 7208 5.2: an include (or redirect, 6.1) of a domain without SPF is a permerror; it is a void lookup too.
      state.voidLookups += 1;
      state.problems.push({
        severity: "fail",
        text: `${name} ${fetched.answer.kind === "nxdomain" ? "does not exist" : "has no SPF record"} (included from ${path.at(-1)}: permerror)`,
      });
      return null;
    case "multiple":
      state.problems.push({ severity: "fail", text: `${name} has ${fetched.records.length} SPF records (permerror)` });
      return null;
    case "record":
      return walkRecord(fetched.record, name, [...path, name], state);
  }
}

/** Walks `domain`'s SPF record as a receiver would, counting lookups. */
export async function walkSpf(domain: string, resolve: Resolve): Promise<SpfWalk> {
  const fetched = await fetchSpf(domain, resolve);
  switch (fetched.kind) {
    case "failed":
      return { outcome: "lookup_failed", answer: fetched.answer };
    case "none":
      return { outcome: "none", answer: fetched.answer };
    case "multiple":
      return { outcome: "multiple", records: fetched.records };
    case "record": {
      const state: WalkState = { resolve, lookups: 0, voidLookups: 0, includes: [], problems: [] };
      const all = await walkRecord(fetched.record, domain, [domain], state);
      if (state.lookups > SPF_LOOKUP_LIMIT) state.problems.push({ severity: "fail", text: `more than ${SPF_LOOKUP_LIMIT} DNS lookups (permerror, RFC 7208 4.6.4)` });
      if (state.voidLookups > SPF_VOID_LIMIT)
        state.problems.push({ severity: "fail", text: `${state.voidLookups} lookups found nothing, more than ${SPF_VOID_LIMIT} (permerror, RFC 7208 4.6.4)` });
      return { outcome: "walked", record: fetched.record, lookups: state.lookups, voidLookups: state.voidLookups, includes: state.includes, all, problems: state.problems };
    }
  }
}
