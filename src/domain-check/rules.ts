/**
 * The domain check's rules: from DNS answers and what mailgate knows of the
 * domain (its aliases, the relays that send for it, PUBLIC_URL), the items
 * an operator would otherwise piece together from MXToolbox, mail-tester and
 * mailgate's own settings. Pure: the answers are looked up beforehand
 * (`questionsFor`, then src/domain-check/check.ts asks them), so the rules
 * read like a table and are tested as one.
 */
import type { DnsAnswer, DnsType } from "../dns";
import { domainOf } from "../mail/address";
import type { Destination, RelayType, Stream } from "../model";
import { notificationsAddress } from "../outbound/plan";
import { fixedSenderOf } from "../outbound/relays/settings";
import { planSender } from "../outbound/rewrite-from";
import { filterParts, findRelay, matchFromFilter } from "../outbound/select-relay";
import { CLOUDFLARE_MX, CLOUDFLARE_SPF_INCLUDE, type DkimNeed, mailgunDomain, type ReturnPathNeed, relayDnsNeeds } from "./providers";
import { alignedDomains, isNullMx, type Mx, parseDkimKey, parseDmarc, parseMtaSts, parseMx, parseTlsRpt, recordsStartingWith } from "./records";
import { isSpfRecord, SPF_LOOKUP_LIMIT, type SpfWalk } from "./spf";

export type CheckStatus = "pass" | "warn" | "fail";

/** A record to publish, as a DNS editor asks for it: `name` is the full name. */
export interface RecordToPublish {
  type: "MX" | "TXT" | "CNAME";
  name: string;
  value: string;
}

export interface CheckItem {
  /** Stable: `mx`, `spf`, `dkim_routing`, `dkim:<relay id>`, `return_path:<relay id>`, `dmarc`, `mta_sts`, `tls_rpt`, `catchall`, `bounce`, `relays`, `relay:<relay id>`, `forward:<address>`, `public_url`. */
  id: string;
  group: "dns" | "mailgate";
  status: CheckStatus;
  reason: string;
  /** What to publish to fix it; only on items that are not `pass`. */
  records?: RecordToPublish[];
  /** `spf`: DNS lookups a receiver makes evaluating the record (RFC 7208 4.6.4: at most 10). */
  lookups?: number;
  /** `spf`: includes that found nothing. */
  void_lookups?: number;
  /** `dmarc`: the policy that applies to the domain. */
  policy?: string | null;
  /** Relay items: the relay. */
  relay?: { id: string; name: string; type: RelayType };
  /** `forward:` items: the destination and the aliases forwarding to it. */
  address?: string;
  aliases?: string[];
}

export interface CheckDomain {
  name: string;
  companyName: string | null;
  catchall: string;
  bounce: string;
  defaultFrom: string;
}

export interface CheckAlias {
  address: string;
  name: string;
  domain: string | null;
  localPartOnly: boolean;
  enabled: boolean;
  destinations: Destination[];
}

export interface CheckRelay {
  id: string;
  name: string;
  type: RelayType;
  fromFilter: string | null;
  sequence: number;
  stream: Stream;
  enabled: boolean;
  config: Record<string, unknown>;
}

/** What mailgate knows: the domain, every alias and relay, PUBLIC_URL. */
export interface CheckConfig {
  domain: CheckDomain;
  aliases: CheckAlias[];
  relays: CheckRelay[];
  publicUrl: string | null;
}

/** The answers looked up beforehand, by question. */
export type Answers = (name: string, type: DnsType) => DnsAnswer;

export interface Question {
  name: string;
  type: DnsType;
}

/** The aliases that take mail at the domain: its own, and local-part-only ones (they match on every domain we serve, src/inbound/route.ts). */
export function aliasesOn(config: CheckConfig): CheckAlias[] {
  return config.aliases.filter((a) => a.domain === config.domain.name || a.localPartOnly);
}

/** A filter that names the domain, or an address on it (a relay without filter covers every domain, but names none). */
function namesDomain(relay: CheckRelay, domain: string): boolean {
  return relay.fromFilter !== null && filterParts(relay.fromFilter).some((part) => (part.includes("@") ? domainOf(part).toLowerCase() === domain : part.toLowerCase() === domain));
}

/** The relays that send mail from the domain: enabled, and whose From filter covers it (no filter covers everything), by sequence. */
export function sendingRelays(config: CheckConfig): CheckRelay[] {
  const domain = config.domain.name;
  return config.relays.filter((r) => r.enabled && (r.fromFilter === null || namesDomain(r, domain))).sort((a, b) => a.sequence - b.sequence);
}

/** Mail goes to the domain when an alias takes it, or when mail is sent from it (replies come to the catchall, bounces to the bounce address). */
function receivesMail(config: CheckConfig): boolean {
  return aliasesOn(config).some((a) => a.enabled) || sendingRelays(config).length > 0;
}

function dmarcNames(domain: string): string[] {
  const labels = domain.split(".");
  // The domain, then each parent down to two labels: RFC 7489 6.6.3 falls back to the organizational domain.
  return labels.slice(0, -1).map((_, i) => `_dmarc.${labels.slice(i).join(".")}`);
}

function dkimNames(need: DkimNeed | { kind: "unknown_host" }): string[] {
  return need.kind === "selectors" ? need.selectors.map((s) => `${s}._domainkey.${need.at}`) : [];
}

function forwardDomains(config: CheckConfig): string[] {
  const targets = aliasesOn(config)
    .filter((a) => a.enabled)
    .flatMap((a) => a.destinations.flatMap((d) => (d.type === "forward" ? [domainOf(d.to).toLowerCase()] : [])));
  return [...new Set(targets)];
}

/** Every question the rules read an answer to, besides the SPF walk (src/domain-check/spf.ts asks its own). */
export function questionsFor(config: CheckConfig): Question[] {
  const domain = config.domain.name;
  const questions: Question[] = [
    { name: domain, type: "MX" },
    ...dmarcNames(domain).map((name) => ({ name, type: "TXT" as const })),
    { name: `_mta-sts.${domain}`, type: "TXT" },
    { name: `_smtp._tls.${domain}`, type: "TXT" },
    { name: `cf2024-1._domainkey.${domain}`, type: "TXT" },
  ];
  for (const relay of sendingRelays(config)) {
    const needs = relayDnsNeeds(relay, domain);
    for (const name of dkimNames(needs.dkim)) questions.push({ name, type: "TXT" });
    const path = needs.returnPath;
    if (path?.cname) questions.push({ name: path.name, type: "CNAME" });
    if (path?.mx) questions.push({ name: path.name, type: "MX" });
    if (path?.spfInclude) questions.push({ name: path.name, type: "TXT" });
  }
  for (const name of forwardDomains(config)) questions.push({ name, type: "MX" }, { name, type: "A" }, { name, type: "AAAA" });
  const seen = new Set<string>();
  return questions.filter((q) => {
    const key = `${q.name} ${q.type}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// ---- items ----------------------------------------------------------------

type Verdict = { status: CheckStatus; reason: string; records?: RecordToPublish[] };

const RANK: Record<CheckStatus, number> = { pass: 0, warn: 1, fail: 2 };

function worst(statuses: CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((a, b) => (RANK[b] > RANK[a] ? b : a), "pass");
}

/** A lookup that could not be answered: the domain's own servers failing is a fail (senders fail the same way), our resolver failing a warn (nothing is known). */
function lookupFailed(answer: Extract<DnsAnswer, { kind: "failed" }>, question: string): Verdict {
  return { status: answer.cause === "servfail" ? "fail" : "warn", reason: `the lookup of ${question} failed: ${answer.reason}` };
}

const routingMx = (domain: string): RecordToPublish[] => CLOUDFLARE_MX.map((host, i) => ({ type: "MX" as const, name: domain, value: `${[13, 86, 24][i]} ${host}` }));

function mxItem(config: CheckConfig, answers: Answers): Verdict {
  const domain = config.domain.name;
  const receives = receivesMail(config);
  const nullMx: RecordToPublish[] = [{ type: "MX", name: domain, value: "0 ." }];
  const answer = answers(domain, "MX");
  switch (answer.kind) {
    case "failed":
      return lookupFailed(answer, `MX ${domain}`);
    case "nxdomain":
      return { status: "fail", reason: `${domain} does not exist in DNS (NXDOMAIN): no mail can reach it`, records: routingMx(domain) };
    case "no_records":
      return receives
        ? {
            status: "fail",
            reason: `${domain} has no MX record: mail for it goes to its address record, if any (RFC 5321 5.1), never to Cloudflare Email Routing`,
            records: routingMx(domain),
          }
        : {
            status: "warn",
            reason: `${domain} has no MX record and mailgate has nothing to receive for it: publish a null MX (RFC 7505) so senders learn at once`,
            records: nullMx,
          };
    case "records":
      break;
  }
  const records = answer.records.map(parseMx).filter((mx): mx is Mx => mx !== null);
  if (isNullMx(records)) {
    return receives
      ? {
          status: "fail",
          reason: `${domain} publishes a null MX (RFC 7505: it accepts no mail), but mailgate receives for it (aliases, replies and bounces of what it sends)`,
          records: routingMx(domain),
        }
      : { status: "pass", reason: `${domain} publishes a null MX (RFC 7505) and mailgate has no alias on it and sends nothing from it` };
  }
  if (!receives) {
    return {
      status: "warn",
      reason: `mailgate has no alias on ${domain} and sends nothing from it, so every message is refused: add aliases, or publish a null MX (RFC 7505) instead of ${records.map((r) => r.host).join(", ")}`,
      records: nullMx,
    };
  }
  const cloudflare = records.filter((r) => CLOUDFLARE_MX.includes(r.host));
  const others = records.filter((r) => !CLOUDFLARE_MX.includes(r.host));
  if (!cloudflare.length)
    return {
      status: "fail",
      reason: `MX points at ${others.map((r) => r.host).join(", ")}, not Cloudflare Email Routing: mail for ${domain} never reaches mailgate`,
      records: routingMx(domain),
    };
  const best = Math.min(...cloudflare.map((r) => r.priority));
  const preferred = others.filter((r) => r.priority <= best);
  if (preferred.length)
    return {
      status: "fail",
      reason: `MX prefers ${preferred.map((r) => `${r.host} (${r.priority})`).join(", ")} over Cloudflare Email Routing: most mail for ${domain} goes there`,
    };
  if (others.length) return { status: "warn", reason: `MX also names ${others.map((r) => r.host).join(", ")} as a backup: mail it takes bypasses mailgate` };
  const missing = CLOUDFLARE_MX.filter((host) => !cloudflare.some((r) => r.host === host));
  if (missing.length)
    return {
      status: "warn",
      reason: `MX lacks ${missing.join(", ")}: Email Routing publishes all three`,
      records: routingMx(domain).filter((r) => missing.some((m) => r.value.endsWith(m))),
    };
  return { status: "pass", reason: "MX points at Cloudflare Email Routing (route1, route2, route3.mx.cloudflare.net)" };
}

/** An SMTP relay's envelope sender is on the domain (VERP or the From) unless it has a fixed sender elsewhere. */
function envelopeOnDomain(relay: CheckRelay, domain: string): boolean {
  const fixed = fixedSenderOf(relay);
  return fixed === null || domainOf(fixed).toLowerCase() === domain;
}

function spfItem(config: CheckConfig, spf: SpfWalk): CheckItem {
  const domain = config.domain.name;
  // Email Routing's include matters only where mail is received (Cloudflare's dashboard reports the domain's DNS incomplete without it).
  const needs: { include: string; who: string; severity: "warn" | "fail" }[] = receivesMail(config)
    ? [{ include: CLOUDFLARE_SPF_INCLUDE, who: "Cloudflare Email Routing", severity: "warn" }]
    : [];
  for (const relay of sendingRelays(config)) {
    const include = relayDnsNeeds(relay, domain).spfInclude;
    if (include && envelopeOnDomain(relay, domain) && !needs.some((n) => n.include === include.include))
      needs.push({ include: include.include, who: `${relay.name} (${include.service})`, severity: "fail" });
  }
  const suggested = (existing: string | null): RecordToPublish => {
    const present = existing?.toLowerCase() ?? "";
    const add = needs.filter((n) => !present.includes(`include:${n.include}`)).map((n) => `include:${n.include}`);
    const value = existing ? existing.replace(/^v=spf1/i, ["v=spf1", ...add].join(" ")) : ["v=spf1", ...add, "~all"].join(" ");
    return { type: "TXT", name: domain, value };
  };
  const item = (verdict: Verdict, extra: Partial<CheckItem> = {}): CheckItem => ({ id: "spf", group: "dns", ...verdict, ...extra });
  switch (spf.outcome) {
    case "lookup_failed":
      return item(lookupFailed(spf.answer, `TXT ${domain}`));
    case "none":
      return item({ status: "fail", reason: `${domain} has no SPF record: receivers cannot tell its servers from anyone's`, records: [suggested(null)] });
    case "multiple":
      return item({
        status: "fail",
        reason: `${domain} has ${spf.records.length} SPF records: receivers treat that as a permerror (RFC 7208 3.2); merge them into one`,
        records: [suggested(spf.records[0]!)],
      });
    case "walked":
      break;
  }
  const problems = [...spf.problems];
  if (spf.all === "+") problems.push({ severity: "fail", text: "+all lets every server on the internet send as the domain" });
  if (spf.all === "?") problems.push({ severity: "warn", text: "?all is neutral: it protects nothing" });
  if (spf.all === null && !spf.problems.some((p) => p.severity === "fail"))
    problems.push({ severity: "warn", text: "it ends in no all mechanism: mail from other servers is neutral, not refused (add ~all or -all)" });
  const includes = new Set(spf.includes.map((i) => i.toLowerCase()));
  const missing = needs.filter((n) => !includes.has(n.include));
  for (const need of missing) problems.push({ severity: need.severity, text: `it lacks include:${need.include}, which ${need.who} needs` });
  const status = worst(problems.map((p) => p.severity));
  const counted = `${spf.lookups} DNS lookup${spf.lookups === 1 ? "" : "s"} of ${SPF_LOOKUP_LIMIT}`;
  const reason = problems.length ? `SPF ${spf.record}: ${problems.map((p) => p.text).join("; ")} (${counted})` : `one SPF record, ${counted}, ending in ${spf.all}all`;
  return item({ status, reason, ...(missing.length && { records: [suggested(spf.record)] }) }, { lookups: spf.lookups, void_lookups: spf.voidLookups });
}

type KeyCheck = { kind: "key"; verdict: Verdict } | { kind: "missing"; reason: string } | { kind: "failed"; verdict: Verdict };

/** The DKIM key at one name: a usable key, a broken one, or none. */
function dkimKeyAt(answers: Answers, name: string, cnameTo: string | null): KeyCheck {
  const answer = answers(name, "TXT");
  switch (answer.kind) {
    case "failed":
      return { kind: "failed", verdict: lookupFailed(answer, `TXT ${name}`) };
    case "nxdomain":
    case "no_records":
      if (answer.cnames.length) return { kind: "key", verdict: { status: "fail", reason: `${name} is a CNAME to ${answer.cnames.at(-1)}, which holds no key` } };
      return { kind: "missing", reason: `${name} has no DKIM key` };
    case "records":
      break;
  }
  const keys = answer.records.map(parseDkimKey);
  const good = keys.find((k) => k.ok);
  const via = answer.cnames.length ? ` (through ${answer.cnames.join(" → ")})` : "";
  if (good?.ok) {
    if (cnameTo && answer.cnames.length && !answer.cnames.some((c) => c === cnameTo || c.endsWith(`.${cnameTo}`))) {
      return { kind: "key", verdict: { status: "warn", reason: `${name} is a CNAME to ${answer.cnames.at(-1)}, not to ${cnameTo}` } };
    }
    if (good.bits !== null && good.bits < 1024)
      return { kind: "key", verdict: { status: "warn", reason: `${name}: a ${good.bits}-bit key, which receivers may ignore (RFC 8301: at least 1024)` } };
    return { kind: "key", verdict: { status: "pass", reason: `${name}: ${good.keyType} key${good.bits ? ` of about ${good.bits} bits` : ""}${via}` } };
  }
  const broken = keys.find((k) => !k.ok);
  return { kind: "key", verdict: { status: "fail", reason: `${name} is not a usable DKIM key: ${broken && !broken.ok ? broken.reason : "unreadable"}${via}` } };
}

function routingDkimItem(config: CheckConfig, answers: Answers): CheckItem {
  const name = `cf2024-1._domainkey.${config.domain.name}`;
  const key = dkimKeyAt(answers, name, null);
  const verdict: Verdict =
    key.kind === "missing"
      ? {
          status: "warn",
          reason: `${name} is missing: Email Routing signs forwarded mail for the domain with it (turn Email Routing's DNS records on again, or copy the key it shows)`,
          records: [{ type: "TXT", name, value: "v=DKIM1; h=sha256; k=rsa; p=<the key Email Routing's settings show>" }],
        }
      : key.verdict;
  return { id: "dkim_routing", group: "dns", ...verdict };
}

function relayRef(relay: CheckRelay) {
  return { id: relay.id, name: relay.name, type: relay.type };
}

function relayDkimItem(relay: CheckRelay, domain: string, answers: Answers): CheckItem {
  const need = relayDnsNeeds(relay, domain).dkim;
  const base = { id: `dkim:${relay.id}`, group: "dns" as const, relay: relayRef(relay) };
  switch (need.kind) {
    case "unknown_host":
      return {
        ...base,
        status: "warn",
        reason: `${relay.name} sends through ${need.host || "an SMTP host"}: mailgate does not know which DKIM selector and SPF include it needs; publish what its provider documents`,
      };
    case "per_account":
      return {
        ...base,
        status: "warn",
        reason: `${need.service} signs with a selector made for the account (${need.example}): mailgate cannot guess it; check that ${need.service} shows ${domain} verified`,
      };
    case "selectors":
      break;
  }
  const checks = need.selectors.map((s) => dkimKeyAt(answers, `${s}._domainkey.${need.at}`, need.cnameTo));
  const failed = checks.find((c) => c.kind === "failed");
  if (failed?.kind === "failed") return { ...base, ...failed.verdict };
  const keys = checks.flatMap((c) => (c.kind === "key" ? [c.verdict] : []));
  const missing = need.selectors.filter((_, i) => checks[i]!.kind === "missing");
  const publish = (selectors: string[]): RecordToPublish[] =>
    selectors.map((s) =>
      need.cnameTo
        ? { type: "CNAME", name: `${s}._domainkey.${need.at}`, value: `<the ${s} host ${need.service} shows, under ${need.cnameTo}>` }
        : { type: "TXT", name: `${s}._domainkey.${need.at}`, value: `v=DKIM1; k=rsa; p=<the key ${need.service} shows>` },
    );
  if (need.all) {
    if (missing.length)
      return {
        ...base,
        status: "fail",
        reason: `${need.service} signs with ${missing.map((s) => `${s}._domainkey.${need.at}`).join(" and ")}, which ${missing.length > 1 ? "are" : "is"} missing: its mail fails DKIM, and DMARC`,
        records: publish(missing),
      };
    return { ...base, status: worst(keys.map((k) => k.status)), reason: keys.map((k) => k.reason).join("; ") };
  }
  const good = keys.find((k) => k.status === "pass");
  if (good) return { ...base, ...good };
  if (keys.length) return { ...base, ...keys[0]! };
  return {
    ...base,
    status: "warn",
    reason: `no DKIM key at ${need.service}'s documented selectors (${need.selectors.join(", ")}) under ${need.at}; if ${need.service} shows another selector, mailgate cannot see it`,
    records: publish(need.selectors.slice(0, 1)),
  };
}

function returnPathItem(relay: CheckRelay, path: ReturnPathNeed, answers: Answers): CheckItem {
  const base = { id: `return_path:${relay.id}`, group: "dns" as const, relay: relayRef(relay) };
  if (path.cname) {
    const answer = answers(path.name, "CNAME");
    if (answer.kind === "failed") return { ...base, ...lookupFailed(answer, `CNAME ${path.name}`) };
    if (answer.kind === "records" && answer.records.includes(path.cname))
      return { ...base, status: "pass", reason: `${path.name} is a CNAME to ${path.cname}: bounces come back on the domain and SPF aligns` };
    return {
      ...base,
      status: "warn",
      reason: `${path.name} is not a CNAME to ${path.cname}: ${path.service}'s mail still passes DMARC through DKIM, but SPF aligns only with this return-path`,
      records: [{ type: "CNAME", name: path.name, value: path.cname }],
    };
  }
  const verdicts: Verdict[] = [];
  if (path.mx) {
    const mx = path.mx;
    const answer = answers(path.name, "MX");
    if (answer.kind === "failed") verdicts.push(lookupFailed(answer, `MX ${path.name}`));
    else {
      const hosts = answer.kind === "records" ? answer.records.map(parseMx).flatMap((r) => (r ? [r.host] : [])) : [];
      if (hosts.length && hosts.every((h) => h.endsWith(mx.suffix))) verdicts.push({ status: "pass", reason: `${path.name} MX ${hosts.join(", ")}` });
      else
        verdicts.push({
          status: "fail",
          reason: hosts.length
            ? `${path.name} MX points at ${hosts.join(", ")}, not ${path.service}'s *${mx.suffix}: bounces are lost`
            : `${path.name} has no MX: ${path.service} reads bounces through it`,
          records: mx.publish.map((host, i) => ({ type: "MX", name: path.name, value: `${10 * (i + 1)} ${host}` })),
        });
    }
  }
  if (path.spfInclude) {
    const answer = answers(path.name, "TXT");
    if (answer.kind === "failed") verdicts.push(lookupFailed(answer, `TXT ${path.name}`));
    else {
      const spf = answer.kind === "records" ? answer.records.filter(isSpfRecord) : [];
      const includes =
        spf.length === 1 &&
        spf[0]!
          .toLowerCase()
          .split(" ")
          .some((t) => t.replace(/^\+/, "") === `include:${path.spfInclude}`);
      if (includes) verdicts.push({ status: "pass", reason: `${path.name} SPF includes ${path.spfInclude}` });
      else
        verdicts.push({
          status: "fail",
          reason:
            spf.length > 1
              ? `${path.name} has ${spf.length} SPF records (permerror)`
              : spf.length
                ? `${path.name} SPF lacks include:${path.spfInclude}: ${path.service}'s envelope sender fails SPF`
                : `${path.name} has no SPF record: ${path.service}'s envelope sender fails SPF`,
          records: [{ type: "TXT", name: path.name, value: `v=spf1 include:${path.spfInclude} ~all` }],
        });
    }
  }
  const records = verdicts.flatMap((v) => v.records ?? []);
  return {
    ...base,
    status: worst(verdicts.map((v) => v.status)),
    reason: `${path.service}'s return-path: ${verdicts.map((v) => v.reason).join("; ")}`,
    ...(records.length && { records }),
  };
}

function dmarcItem(config: CheckConfig, answers: Answers): CheckItem {
  const domain = config.domain.name;
  const item = (verdict: Verdict, policy: string | null = null): CheckItem => ({ id: "dmarc", group: "dns", ...verdict, policy });
  const suggestion: RecordToPublish = { type: "TXT", name: `_dmarc.${domain}`, value: `v=DMARC1; p=none; rua=mailto:dmarc-reports@${domain}` };
  for (const name of dmarcNames(domain)) {
    const answer = answers(name, "TXT");
    if (answer.kind === "failed") return item(lookupFailed(answer, `TXT ${name}`));
    const records = answer.kind === "records" ? recordsStartingWith(answer.records, /^v\s*=\s*DMARC1\s*(;|$)/i) : [];
    if (!records.length) continue;
    const own = name === `_dmarc.${domain}`;
    const where = own ? name : `${name} (inherited: ${domain} has none of its own)`;
    if (records.length > 1)
      return item({ status: "fail", reason: `${where} holds ${records.length} DMARC records: receivers then apply none (RFC 7489 6.6.3)`, records: [suggestion] });
    const dmarc = parseDmarc(records[0]!);
    if (!dmarc.ok) return item({ status: "fail", reason: `${where} is not a valid DMARC record: ${dmarc.reason}`, records: [suggestion] });
    const policy = own ? dmarc.policy : (dmarc.subdomainPolicy ?? dmarc.policy);
    const problems: { status: CheckStatus; text: string }[] = [];
    if (policy === "none")
      problems.push({
        status: "warn",
        text: "p=none only monitors: mail spoofing the domain is still delivered (move to quarantine, then reject, once reports show your own mail passing)",
      });
    if (policy !== "none" && dmarc.percent < 100) problems.push({ status: "warn", text: `pct=${dmarc.percent}: the policy applies to only part of the failing mail` });
    if (!dmarc.reportTo.length) problems.push({ status: "warn", text: "no rua: aggregate reports go nowhere, so nobody sees who sends as the domain" });
    const reports = dmarc.reportTo.length ? `reports to ${dmarc.reportTo.join(", ")}` : "no reports";
    const reason = `${where}: p=${policy}, ${reports}${problems.length ? `; ${problems.map((p) => p.text).join("; ")}` : ""}`;
    const fix = !dmarc.reportTo.length ? [{ ...suggestion, value: `${records[0]!.replace(/;?\s*$/, "")}; rua=mailto:dmarc-reports@${domain}` }] : undefined;
    return item({ status: worst(problems.map((p) => p.status)), reason, ...(fix && { records: fix }) }, policy);
  }
  return item({
    status: "fail",
    reason: `${domain} has no DMARC record: receivers apply no policy to mail spoofing it, and Gmail and Yahoo require one of bulk senders (add an alias for dmarc-reports@${domain}, or use Cloudflare DMARC Management's address)`,
    records: [suggestion],
  });
}

/** One TXT record of a kind at `name` (MTA-STS, TLS-RPT): RFC 8461 3.1 and RFC 8460 3 both say several records mean none. */
function singleRecord(
  answers: Answers,
  name: string,
  prefix: RegExp,
): { kind: "one"; text: string } | { kind: "none" } | { kind: "many"; count: number } | { kind: "failed"; verdict: Verdict } {
  const answer = answers(name, "TXT");
  if (answer.kind === "failed") return { kind: "failed", verdict: lookupFailed(answer, `TXT ${name}`) };
  const records = answer.kind === "records" ? recordsStartingWith(answer.records, prefix) : [];
  if (records.length > 1) return { kind: "many", count: records.length };
  return records[0] === undefined ? { kind: "none" } : { kind: "one", text: records[0] };
}

function mtaStsItem(config: CheckConfig, answers: Answers, today: string): CheckItem {
  const domain = config.domain.name;
  const name = `_mta-sts.${domain}`;
  const item = (verdict: Verdict): CheckItem => ({ id: "mta_sts", group: "dns", ...verdict });
  const publish: RecordToPublish[] = [{ type: "TXT", name, value: `v=STSv1; id=${today}` }];
  const policyFile = `https://mta-sts.${domain}/.well-known/mta-sts.txt`;
  const found = singleRecord(answers, name, /^v\s*=\s*STSv1\s*(;|$)/);
  switch (found.kind) {
    case "failed":
      return item(found.verdict);
    case "none":
      if (!receivesMail(config)) return item({ status: "pass", reason: "no MTA-STS record, and none is needed: the domain receives no mail" });
      return item({
        status: "warn",
        reason: `no MTA-STS record: senders fall back to plaintext when an attacker strips STARTTLS (RFC 8461); publish it with a policy at ${policyFile} listing mx: *.mx.cloudflare.net`,
        records: publish,
      });
    case "many":
      return item({ status: "fail", reason: `${name} holds ${found.count} MTA-STS records: senders then use none (RFC 8461 3.1)`, records: publish });
    case "one": {
      const sts = parseMtaSts(found.text);
      if (!sts.ok) return item({ status: "fail", reason: `${name} is not a valid MTA-STS record: ${sts.reason}`, records: publish });
      return item({ status: "pass", reason: `MTA-STS id=${sts.id}; the policy itself (${policyFile}) is not fetched by this check` });
    }
  }
}

function tlsRptItem(config: CheckConfig, answers: Answers): CheckItem {
  const domain = config.domain.name;
  const name = `_smtp._tls.${domain}`;
  const item = (verdict: Verdict): CheckItem => ({ id: "tls_rpt", group: "dns", ...verdict });
  const publish: RecordToPublish[] = [{ type: "TXT", name, value: `v=TLSRPTv1; rua=mailto:tls-reports@${domain}` }];
  const found = singleRecord(answers, name, /^v\s*=\s*TLSRPTv1\s*(;|$)/);
  switch (found.kind) {
    case "failed":
      return item(found.verdict);
    case "none":
      if (!receivesMail(config)) return item({ status: "pass", reason: "no TLS-RPT record, and none is needed: the domain receives no mail" });
      return item({ status: "warn", reason: "no TLS-RPT record: nobody hears when senders fail to reach the domain over TLS (RFC 8460)", records: publish });
    case "many":
      return item({ status: "fail", reason: `${name} holds ${found.count} TLS-RPT records: senders then report to none (RFC 8460 3)`, records: publish });
    case "one": {
      const rpt = parseTlsRpt(found.text);
      if (!rpt.ok) return item({ status: "fail", reason: `${name} is not a valid TLS-RPT record: ${rpt.reason}`, records: publish });
      return item({ status: "pass", reason: `TLS reports go to ${rpt.reportTo.join(", ")}` });
    }
  }
}

function servedAddressItem(config: CheckConfig, which: "catchall" | "bounce", mx: Verdict): CheckItem {
  const domain = config.domain;
  const local = domain[which];
  const address = `${local}@${domain.name}`;
  const item = (verdict: Verdict): CheckItem => ({ id: which, group: "mailgate", ...verdict });
  const taken = aliasesOn(config).find((a) => a.enabled && (a.address === address || (a.localPartOnly && a.name === local)));
  const role = which === "catchall" ? "replies that name no conversation" : "bounces of the mail sent from the domain";
  if (taken) return item({ status: "fail", reason: `${address} is also the alias ${taken.address}: ${role} go to the alias instead` });
  if (mx.status === "fail") return item({ status: "fail", reason: `${address} cannot receive: mail for ${domain.name} does not reach Email Routing (see mx)` });
  return item({
    status: "pass",
    reason: `${address} takes ${role}; Email Routing must hand it to the Worker (its catch-all rule, or a rule for this address): mailgate cannot read those rules`,
  });
}

function relaysItem(config: CheckConfig): CheckItem {
  const domain = config.domain.name;
  const sending = sendingRelays(config);
  const item = (verdict: Verdict): CheckItem => ({ id: "relays", group: "mailgate", ...verdict });
  if (sending.length) return item({ status: "pass", reason: `mail from ${domain} goes through ${sending.map((r) => r.name).join(", then ")}` });
  const enabled = config.relays.filter((r) => r.enabled).sort((a, b) => a.sequence - b.sequence);
  if (!enabled.length) return item({ status: "warn", reason: `no relay is enabled: mailgate cannot send from ${domain} (replies, notifications, the send API)` });
  // A warn, not a fail: the domain may be for receiving only.
  return item({
    status: "warn",
    reason: `no enabled relay's From filter allows ${domain}: mail sent from it would go through ${enabled[0]!.name} (Odoo's last resort), whose filter does not allow it`,
  });
}

/** The From a relay gives mail that someone at the domain sends through it, by Odoo's rules (findRelay, then planSender). */
function fromThrough(relay: CheckRelay, config: CheckConfig): string {
  const domain = config.domain.name;
  const named = relay.fromFilter ? filterParts(relay.fromFilter).find((p) => p.includes("@") && domainOf(p).toLowerCase() === domain) : undefined;
  const author = named ?? `someone@${domain}`;
  const notifications = notificationsAddress(config.domain);
  const fixedSender = fixedSenderOf(relay);
  const choice = findRelay([{ ...relay, fixedSender }], author, notifications);
  if (!choice) return author;
  const plan = planSender({
    author: { name: "", address: author },
    smtpFrom: choice.smtpFrom,
    relay: { fromFilter: relay.fromFilter, fixedSender, envelopeIsFrom: true },
    notificationsEmail: notifications,
    bounceAddress: null,
    replyTo: null,
    threadReplyTo: null,
  });
  return plan.from.address;
}

function relayItem(relay: CheckRelay, config: CheckConfig): CheckItem {
  const domain = config.domain.name;
  const base = { id: `relay:${relay.id}`, group: "mailgate" as const, relay: relayRef(relay) };
  if (!relay.enabled) return { ...base, status: "warn", reason: `${relay.name}'s filter names ${domain}, but it is disabled: mail from ${domain} goes through the other relays` };
  const from = fromThrough(relay, config);
  const fromDomain = domainOf(from).toLowerCase();
  if (!alignedDomains(fromDomain, domain)) {
    return {
      ...base,
      status: "fail",
      reason: `${relay.name} sends mail from ${domain} as From ${from}: DMARC checks ${fromDomain}, whose records this check does not cover, and readers see another domain`,
    };
  }
  if (!matchFromFilter(from, relay.fromFilter)) return { ...base, status: "fail", reason: `${relay.name} would send as ${from}, which its own From filter does not allow` };
  const signing = relay.type === "mailgun" ? mailgunDomain(relay) : null;
  if (signing && !alignedDomains(signing, domain)) {
    return {
      ...base,
      status: "fail",
      reason: `${relay.name} signs and bounces on Mailgun's domain ${signing}, which is not ${domain} nor a subdomain of it: DMARC fails (relaxed alignment)`,
    };
  }
  return { ...base, status: "pass", reason: `${relay.name} sends as ${from}, aligned with ${domain} for DMARC` };
}

/** Relays the per-relay items cover: the sending ones, and disabled ones whose filter names the domain. */
function coveredRelays(config: CheckConfig): CheckRelay[] {
  const domain = config.domain.name;
  const disabled = config.relays.filter((r) => !r.enabled && namesDomain(r, domain));
  return [...sendingRelays(config), ...disabled];
}

/** Whether mail forwarded to `address` can be delivered: its domain exists and takes mail (MX, or an address record as the implicit MX). */
function forwardVerdict(address: string, answers: Answers): Verdict {
  const target = domainOf(address).toLowerCase();
  const verified = "it must also be a verified destination address of the Cloudflare account, which mailgate cannot see";
  const mx = answers(target, "MX");
  switch (mx.kind) {
    case "failed":
      return lookupFailed(mx, `MX ${target}`);
    case "nxdomain":
      return { status: "fail", reason: `${target} does not exist (NXDOMAIN): mail forwarded to ${address} is lost` };
    case "records": {
      const records = mx.records.map(parseMx).filter((r): r is Mx => r !== null);
      if (isNullMx(records)) return { status: "fail", reason: `${target} publishes a null MX (RFC 7505): it accepts no mail` };
      return { status: "pass", reason: `${target} receives mail (MX ${records.map((r) => r.host).join(", ")}); ${verified}` };
    }
    case "no_records": {
      const hasAddress = [answers(target, "A"), answers(target, "AAAA")].some((a) => a.kind === "records");
      if (hasAddress) return { status: "warn", reason: `${target} has no MX, only an address record, which senders use instead (RFC 5321 5.1); ${verified}` };
      return { status: "fail", reason: `${target} has neither MX nor address records: mail forwarded to ${address} cannot be delivered` };
    }
  }
}

function forwardItems(config: CheckConfig, answers: Answers): CheckItem[] {
  const byAddress = new Map<string, string[]>();
  for (const alias of aliasesOn(config).filter((a) => a.enabled)) {
    for (const d of alias.destinations) if (d.type === "forward") byAddress.set(d.to, [...(byAddress.get(d.to) ?? []), alias.address]);
  }
  return [...byAddress].map(([address, aliases]) => ({ id: `forward:${address}`, group: "mailgate" as const, address, aliases, ...forwardVerdict(address, answers) }));
}

function publicUrlItem(config: CheckConfig): CheckItem {
  const domain = config.domain.name;
  const item = (verdict: Verdict): CheckItem => ({ id: "public_url", group: "mailgate", ...verdict });
  const url = config.publicUrl;
  const https = url?.startsWith("https://") ?? false;
  const webhooks = aliasesOn(config).filter((a) => a.enabled && a.destinations.some((d) => d.type === "webhook"));
  const mass = sendingRelays(config).filter((r) => r.stream === "mass");
  if (mass.length && !https) {
    return item({
      status: "fail",
      reason: `${mass.map((r) => r.name).join(", ")} send${mass.length === 1 ? "s" : ""} mass mail from ${domain}, whose one-click unsubscribe link (RFC 8058, required by Gmail and Yahoo of bulk senders) needs PUBLIC_URL over https${url ? ` (it is ${url})` : " (it is not set)"}`,
    });
  }
  if (webhooks.length && !url)
    return item({ status: "warn", reason: `PUBLIC_URL is not set: webhook payloads of ${webhooks.map((a) => a.address).join(", ")} carry no download links` });
  if (!url) return item({ status: "pass", reason: `PUBLIC_URL is not set, and ${domain} needs it for nothing (no webhook, no mass mail)` });
  if (!https)
    return item({ status: "warn", reason: `PUBLIC_URL ${url} is not https: links in payloads and List-Unsubscribe travel in the clear, and one-click unsubscribe needs https` });
  return item({ status: "pass", reason: `PUBLIC_URL is ${url}` });
}

/** Everything the check reads: what mailgate knows, the looked-up answers, the SPF walk, and today (the MTA-STS id it suggests). */
export interface CheckFacts {
  config: CheckConfig;
  answers: Answers;
  spf: SpfWalk;
  /** YYYYMMDD */
  today: string;
}

/** The items of the check, DNS first, then mailgate's own configuration. */
export function checkItems(facts: CheckFacts): CheckItem[] {
  const { config, answers } = facts;
  const domain = config.domain.name;
  const sending = sendingRelays(config);
  const mx = mxItem(config, answers);
  const items: CheckItem[] = [{ id: "mx", group: "dns", ...mx }, spfItem(config, facts.spf), routingDkimItem(config, answers)];
  for (const relay of sending) items.push(relayDkimItem(relay, domain, answers));
  for (const relay of sending) {
    const path = relayDnsNeeds(relay, domain).returnPath;
    if (path) items.push(returnPathItem(relay, path, answers));
  }
  items.push(dmarcItem(config, answers), mtaStsItem(config, answers, facts.today), tlsRptItem(config, answers));
  items.push(servedAddressItem(config, "catchall", mx), servedAddressItem(config, "bounce", mx), relaysItem(config));
  for (const relay of coveredRelays(config)) items.push(relayItem(relay, config));
  items.push(...forwardItems(config, answers), publicUrlItem(config));
  // Only items that are not passing say what to publish.
  return items.map((i) => (i.status === "pass" && i.records ? (({ records: _, ...rest }) => rest)(i) : i));
}

/** How many items have each status. */
export function summarize(items: CheckItem[]): Record<CheckStatus, number> {
  const summary = { pass: 0, warn: 0, fail: 0 };
  for (const item of items) summary[item.status] += 1;
  return summary;
}
