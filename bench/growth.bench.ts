/**
 * `npm run bench`, growth part (issue 10): does D1's work per message stay
 * flat as the tables grow? For 10 k, 100 k and 1 M messages (GROWTH_SIZES
 * overrides, e.g. `GROWTH_SIZES=10000,100000`) it fills a fresh stand-in D1
 * (bench/bindings.ts: SQLite, the engine D1 runs, with the migrations
 * applied) with 400 days of mail as mailgate writes it, in time order:
 * inbound mail opening threads on aliases and replies joining them, bounces
 * of our outbound mail, refusals and duplicates, outbound mail with its
 * recipients, attempts, provider events and contacts, loop entries for the
 * last week, raw keys for the last 90 days (as the retention sweep leaves
 * them). Rows are inserted with SQL directly (receive() would take hours at
 * 1 M); then it prints, per size:
 *
 * - bytes per message: the database's pages ÷ messages (everything that
 *   hangs off a message included; raw mail is in R2, not here);
 * - the D1 time (the SQL inside the stand-in's batch) of the routing
 *   lookup for a reply to a stored thread and for new mail to an alias, and
 *   of the record batch writing the decision (`recordDecision`);
 * - `sweepRetention` at `now` (nothing expired) and 80 days later (full
 *   batches of records and raw copies to delete, rolled back after each run);
 *
 * each the median of its runs, and at the largest size the query plans of
 * the lookup's and the sweep's statements, flagging any SCAN of a table.
 */
import type { DatabaseSync } from "node:sqlite";
import { describe, it } from "vitest";
import { database } from "../src/db/client";
import { newId } from "../src/ids";
import { lookup } from "../src/inbound/lookup";
import { readInboundMail } from "../src/inbound/receive";
import { recordDecision } from "../src/inbound/record";
import { decide } from "../src/inbound/route";
import { recomputeRawExpiry, sweepRetention } from "../src/retention";
import { standInEnv } from "./bindings";
import { fmt } from "./measure";

const DAY = 24 * 3600_000;
const SIZES = (process.env.GROWTH_SIZES ?? "10000,100000,1000000").split(",").map(Number);
const RUNS = 41;
const encoder = new TextEncoder();

/** Deterministic randomness for the data's shape (ids still come from src/ids.ts). */
function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS =
  "invoice order shipment question about your offer meeting next week quote project update contract renewal support ticket delivery delay payment reminder request proposal".split(
    " ",
  );
const FIRST = "Anna Ben Carla David Emma Felix Greta Hugo Ines Jonas Karin Luca Mia Noah Olga Paul".split(" ");
const LAST = "Müller Schmidt Dubois Rossi García Novak Jensen Smith Kowalski Silva".split(" ");
const PROVIDERS = ["gmail.com", "outlook.com", "yahoo.com", "example.org", "acme-corp.com", "mail.de", "proton.me"];
const DOMAINS = ["shop.example", "support.example", "acme.example", "corp.example", "news.example"];
const ALIAS_NAMES = ["sales", "support", "info", "billing", "jobs", "contact", "orders", "press", "legal", "hello"];

interface Sizes {
  messages: number;
  bytes: number;
  tables: Record<string, number>;
}

/** The stand-in's SQLite handle (bench/bindings.ts). */
function sqliteOf(env: { DB: unknown }): DatabaseSync {
  return (env.DB as unknown as { sqlite: DatabaseSync }).sqlite;
}

interface Filled {
  aliases: { id: string; name: string; domain: string; address: string }[];
  /** Message keys (Message-IDs) stored in message_threads, for replies. */
  replyKeys: { key: string; sender: string; alias: string }[];
  senders: string[];
}

/** Fills `n` messages over the 400 days before `now`, in time order, 5,000 a transaction. */
function fill(sqlite: DatabaseSync, n: number, now: number): Filled {
  const rand = prng(n);
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)]!;
  const words = (k: number) => Array.from({ length: k }, () => pick(WORDS)).join(" ");
  const person = () => {
    const first = pick(FIRST);
    const last = pick(LAST);
    return {
      name: `${first} ${last}`,
      address: `${first.toLowerCase()}.${last
        .toLowerCase()
        .normalize("NFKD")
        .replace(/[^a-z]/g, "")}${Math.floor(rand() * n)}@${pick(PROVIDERS)}`,
    };
  };
  // Senders recur (a pool a fifth of the messages, skewed to the first ones), as customers write again.
  const senders = Array.from({ length: Math.max(100, Math.floor(n / 5)) }, person);
  const sender = () => senders[Math.floor(rand() ** 2 * senders.length)]!;

  const run = (sql: string) => {
    const statement = sqlite.prepare(sql);
    return (...params: (string | number | null)[]) => statement.run(...params);
  };
  const at0 = now - 400 * DAY;
  sqlite.exec(`insert into settings (id, updated_at) values (1, ${at0})`);
  const aliases: Filled["aliases"] = [];
  for (const domain of DOMAINS) {
    sqlite.exec(`insert into domains (name, company_name, created_at, updated_at) values ('${domain}', 'Company ${domain}', ${at0}, ${at0})`);
    for (const name of ALIAS_NAMES) {
      const id = newId("als", at0);
      const address = `${name}@${domain}`;
      const destinations = [
        { type: "store" },
        ...(name === "support" || name === "orders" ? [{ type: "webhook", url: `https://hooks.${domain}/mailgate/${name}` }] : []),
        ...(name === "sales" ? [{ type: "forward", to: `team-${name}@${domain}` }] : []),
      ];
      const followers = name === "support" || name === "sales" ? [{ name: "Team Lead", address: `lead-${name}@${domain}` }] : [];
      // One alias keeps raw mail longer than the setting, one forever: the raw sweep must step over theirs.
      const rawDays = name === "legal" ? 0 : name === "billing" ? 365 : null;
      run(
        "insert into aliases (id, name, domain, address, destinations, followers, status, raw_retention_days, created_at, updated_at) values (?, ?, ?, ?, ?, ?, 'valid', ?, ?, ?)",
      )(id, name, domain, address, JSON.stringify(destinations), JSON.stringify(followers), rawDays, at0, at0);
      aliases.push({ id, name, domain, address });
    }
  }

  const insertMessage = run(
    'insert into messages (id, direction, status, message_id, mail_from, rcpt_to, from_address, from_name, "to", cc, subject, size, raw_key, decision, relay_id, bounce_address, api_key_id, stream, attempt_count, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const insertThread = run("insert into threads (id, subject, alias_id, domain, created_at, updated_at) values (?, ?, ?, ?, ?, ?)");
  const touchThread = run("update threads set updated_at = ? where id = ?");
  const insertLink = run("insert into message_threads (message_id, thread_id, alias_id, message_key, sender, route_key, created_at) values (?, ?, ?, ?, ?, ?, ?)");
  const insertEvent = run("insert into message_events (message_id, type, detail, created_at) values (?, ?, ?, ?)");
  const insertDelivery = run(
    "insert into deliveries (id, message_id, alias_id, thread_id, type, target, status, attempts, next_attempt_at, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const insertDeliveryAttempt = run("insert into delivery_attempts (delivery_id, result, status_code, started_at, finished_at) values (?, ?, ?, ?, ?)");
  const insertFollower = run("insert or ignore into followers (thread_id, email, name, created_at) values (?, ?, ?, ?)");
  const insertLoop = run("insert or ignore into loop_entries (sender, route_key, delivery, at) values (?, ?, ?, ?)");
  const insertRecipient = run("insert into outbound_recipients (message_id, address, name, kind, status, last_code, source, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?)");
  const insertAttempt = run(
    "insert into attempts (message_id, relay_id, result, envelope_from, provider_message_id, recipients, started_at, finished_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const insertOutboundEvent = run(
    "insert into outbound_events (message_id, recipient, type, status, diagnostic, source, relay_id, dedupe_key, occurred_at, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const insertProviderId = run("insert into provider_ids (relay_id, provider_message_id, recipient, message_id) values (?, ?, '', ?)");
  const insertContact = run("insert or ignore into contacts (email, name, created_at, updated_at) values (?, ?, ?, ?)");
  const bounceRecipient = run("update outbound_recipients set status = 'bounced', last_code = '5.1.1', source = 'dsn', updated_at = ? where message_id = ? and address = ?");
  const insertBounce = run("insert or ignore into bounce_events (email, report_id, original_id, kind, status, created_at) values (?, ?, ?, ?, ?, ?)");
  const insertSuppression = run("insert or ignore into suppressions (email, stream, reason, created_at) values (?, '', 'bounce', ?)");

  const relays = ["rly_01HSES0000AAAAAAAAAAAAAAAA", "rly_01HSES0000BBBBBBBBBBBBBBBB"];
  // Recent threads replies go to, and recent outbound mail bounces are about.
  const threads: { id: string; alias: { id: string; domain: string; address: string }; key: string; subject: string }[] = [];
  const outbound: { id: string; to: string; domain: string }[] = [];
  const replyKeys: Filled["replyKeys"] = [];
  const mbox = (p: { name: string; address: string }) => ({ name: p.name, address: p.address });

  sqlite.exec("BEGIN");
  for (let i = 0; i < n; i++) {
    if (i % 5_000 === 4_999) sqlite.exec("COMMIT; BEGIN");
    const t = Math.floor(at0 + ((i + rand()) * 400 * DAY) / n);
    const id = newId("msg", t);
    const rawKey =
      t > now - 90 * DAY
        ? `raw/${Math.floor(rand() * 2 ** 52)
            .toString(16)
            .padStart(16, "0")}.eml`
        : null;
    const messageKey = `<${Math.floor(rand() * 2 ** 52).toString(36)}.${t.toString(36)}@${pick(["mail.gmail.com", "eurprd04.prod.outlook.com", "mx.example.org", "smtp.acme-corp.com"])}>`;
    const r = rand();
    const size = Math.floor(2_000 + rand() ** 3 * 2_000_000);
    const recentLoop = t > now - 7 * DAY;
    if (r < 0.7) {
      // Inbound.
      const from = sender();
      const kind = rand();
      if (kind < 0.86) {
        // Routed: a new thread on an alias (60 %), or a reply joining a recent thread (40 %).
        const reply = threads.length > 20 && rand() < 0.4;
        const thread = reply ? threads[threads.length - 1 - Math.floor(rand() ** 2 * threads.length)]! : null;
        const alias = thread?.alias ?? pick(aliases);
        const threadId = thread?.id ?? newId("thr", t);
        const subject = thread ? `Re: ${thread.subject}` : `${words(2 + Math.floor(rand() * 5))} #${i}`;
        const route = thread
          ? { kind: "thread", route_key: `thread:${threadId}`, thread_id: threadId, alias_id: alias.id }
          : { kind: "alias", route_key: `alias:${alias.id}`, alias_id: alias.id, thread_id: threadId };
        const decision = { outcome: "accepted", reason: "routed", routes: [route], refused: [], skipped: [] };
        // The sweep leaves the raw copies of `legal` (kept forever) and `billing` (365 days).
        const name = alias.address.split("@")[0]!;
        const kept =
          name === "legal" || (name === "billing" && t > now - 365 * DAY)
            ? `raw/${Math.floor(rand() * 2 ** 52)
                .toString(16)
                .padStart(16, "0")}.eml`
            : null;
        if (thread) touchThread(t, threadId);
        else insertThread(threadId, subject, alias.id, alias.domain, t, t);
        const cc = rand() < 0.3 ? [mbox(person())] : [];
        insertMessage(
          id,
          "in",
          "accepted",
          messageKey,
          from.address,
          alias.address,
          from.address,
          from.name,
          JSON.stringify([{ name: "", address: alias.address }]),
          JSON.stringify(cc),
          subject,
          size,
          rawKey ?? kept,
          JSON.stringify(decision),
          null,
          null,
          null,
          null,
          0,
          t,
          t,
        );
        insertLink(id, threadId, alias.id, messageKey, from.address, route.route_key, t);
        insertEvent(id, "accepted", '{"reason":"routed"}', t);
        insertDelivery(newId("dlv", t), id, alias.id, threadId, "store", null, "delivered", 0, null, t, t);
        if (name === "support" || name === "orders") {
          const delivery = newId("dlv", t);
          insertDelivery(delivery, id, alias.id, threadId, "webhook", `https://hooks.${alias.domain}/mailgate/${name}`, "delivered", 1, t, t, t + 400);
          insertDeliveryAttempt(delivery, "delivered", 200, t + 100, t + 400);
        }
        if (name === "sales") insertDelivery(newId("dlv", t), id, alias.id, threadId, "forward", `team-sales@${alias.domain}`, "delivered", 1, null, t, t + 800);
        if (name === "support" || name === "sales") {
          if (!thread) insertFollower(threadId, `lead-${name}@${alias.domain}`, "Team Lead", t);
          else {
            const delivery = newId("dlv", t);
            insertDelivery(delivery, id, alias.id, threadId, "notify", null, "delivered", 1, t, t, t + 900);
            insertDeliveryAttempt(delivery, "delivered", null, t + 200, t + 900);
          }
        }
        if (recentLoop) insertLoop(from.address, route.route_key, Math.floor(rand() * 2 ** 48).toString(16), t);
        if (!thread) threads.push({ id: threadId, alias, key: messageKey, subject });
        if (rand() < 0.02 || i > n - 2_000) replyKeys.push({ key: messageKey, sender: from.address, alias: alias.address });
      } else if (kind < 0.9 && outbound.length) {
        // A bounce of one of our recent outbound messages.
        const original = outbound[outbound.length - 1 - Math.floor(rand() * Math.min(outbound.length, 500))]!;
        const hard = rand() < 0.6;
        const diagnostic = hard ? "smtp; 550 5.1.1 <x>: Recipient address rejected: User unknown in virtual mailbox table" : "smtp; 452 4.2.2 Mailbox full";
        const decision = {
          outcome: "accepted",
          reason: "bounce",
          signal: "verp",
          bounce: {
            kind: "bounce",
            recipient: original.to,
            status: hard ? "5.1.1" : "4.2.2",
            diagnostic,
            original_message_id: `<${original.id}@${original.domain}>`,
            original_id: original.id,
            verp: "valid",
            recipients: [{ recipient: original.to, action: "failed", status: hard ? "5.1.1" : "4.2.2", diagnostic, remote_mta: "dns; mx.provider.example", hard }],
            feedback_type: null,
            effects: { bounced: [original.to], counted: [original.to], suppressed: hard && rand() < 0.3 ? [{ email: original.to, reason: "bounce" }] : [], delayed: [] },
          },
        };
        insertMessage(
          id,
          "in",
          "accepted",
          messageKey,
          "",
          `bounce+${original.id.slice(4, 20).toLowerCase()}@${original.domain}`,
          "mailer-daemon@mx.provider.example",
          "Mail Delivery System",
          JSON.stringify([{ name: "", address: `bounce@${original.domain}` }]),
          "[]",
          "Undelivered Mail Returned to Sender",
          6_000 + Math.floor(rand() * 20_000),
          rawKey,
          JSON.stringify(decision),
          null,
          null,
          null,
          null,
          0,
          t,
          t,
        );
        insertEvent(id, "accepted", '{"reason":"bounce"}', t);
        bounceRecipient(t, original.id, original.to);
        insertBounce(original.to, id, original.id, hard ? "hard" : "soft", hard ? "5.1.1" : "4.2.2", t);
        insertOutboundEvent(original.id, original.to, "bounced", hard ? "5.1.1" : "4.2.2", diagnostic, "dsn", null, `dsn:${id}:${original.to}`, t, t);
        if (decision.bounce.effects.suppressed.length) insertSuppression(original.to, t);
      } else {
        // Refused (no route, contact policy) or dropped (a duplicate, automatic mail).
        const refused = rand() < 0.7;
        const to = `${pick(["noreply", "admin", "webmaster", "sales"])}${refused ? Math.floor(rand() * 50) : ""}@${pick(DOMAINS)}`;
        const decision = refused ? { outcome: "refused", reason: "no_route", recipient: to } : { outcome: "dropped", reason: "automatic", marker: "auto-submitted: auto-replied" };
        insertMessage(
          id,
          "in",
          decision.outcome,
          messageKey,
          from.address,
          to,
          from.address,
          from.name,
          JSON.stringify([{ name: "", address: to }]),
          "[]",
          words(4),
          size,
          null,
          JSON.stringify(decision),
          null,
          null,
          null,
          null,
          0,
          t,
          t,
        );
        insertEvent(id, decision.outcome, JSON.stringify({ reason: decision.reason }), t);
      }
    } else {
      // Outbound: API sends (half of them in a thread) and follower notifications.
      const domain = pick(DOMAINS);
      const to = [person(), ...(rand() < 0.3 ? [person()] : [])];
      const cc = rand() < 0.2 ? [person()] : [];
      const thread = threads.length && rand() < 0.5 ? threads[threads.length - 1 - Math.floor(rand() ** 2 * threads.length)]! : null;
      const relay = pick(relays);
      const bounceAddress = `bounce+${id.slice(4).toLowerCase()}.${Math.floor(rand() * 2 ** 40).toString(36)}@${domain}`;
      const notification = thread && rand() < 0.5;
      const author = notification ? { name: "Team Lead", address: `notifications@${domain}` } : { name: `Company ${domain}`, address: `hello@${domain}` };
      const decision = {
        outcome: "accepted",
        reason: notification ? "notification" : "send",
        relay_id: relay,
        selection: "domain",
        from_rewrite: notification ? "notifications" : "none",
        author,
        bounce_address: bounceAddress,
        ...(notification ? { notification_of: newId("msg", t), delivery_id: newId("dlv", t) } : {}),
      };
      const ownKey = `<${id}@${domain}>`;
      const subject = thread ? `Re: ${thread.subject}` : `${words(3 + Math.floor(rand() * 5))} #${i}`;
      insertMessage(
        id,
        "out",
        "sent",
        ownKey,
        bounceAddress,
        to[0]!.address,
        author.address,
        author.name,
        JSON.stringify(to.map(mbox)),
        JSON.stringify(cc.map(mbox)),
        subject,
        3_000 + Math.floor(rand() ** 3 * 500_000),
        rawKey,
        JSON.stringify(decision),
        relay,
        bounceAddress,
        notification ? null : "key_01HSES0000CCCCCCCCCCCCCCCC",
        notification ? "notification" : "transactional",
        1,
        t,
        t + 2_000,
      );
      if (thread) insertLink(id, thread.id, null, ownKey, "", `out:${thread.id}`, t);
      insertEvent(id, "queued", null, t);
      insertEvent(id, "sent", JSON.stringify({ relay_id: relay }), t + 2_000);
      const providerId = `0100018f${Math.floor(rand() * 2 ** 52).toString(16)}-${Math.floor(rand() * 2 ** 40).toString(16)}-000000`;
      const all = [...to.map((p) => ({ ...p, kind: "to" })), ...cc.map((p) => ({ ...p, kind: "cc" }))];
      insertAttempt(
        id,
        relay,
        "sent",
        bounceAddress,
        providerId,
        JSON.stringify(all.map((p) => ({ address: p.address, status: "sent", code: "250", message: "2.0.0 Ok: queued" }))),
        t + 500,
        t + 2_000,
      );
      insertProviderId(relay, providerId, id);
      for (const p of all) {
        insertRecipient(id, p.address, p.name, p.kind, "delivered", "250", "provider", t + 60_000);
        insertOutboundEvent(id, p.address, "sent", "250", null, "smtp", relay, `smtp:${id}:${p.address}`, t + 2_000, t + 2_000);
        insertOutboundEvent(id, p.address, "delivered", "2.0.0", null, "provider", relay, `${relay}:${providerId}:delivered:${p.address}`, t + 60_000, t + 60_000);
        insertContact(p.address, p.name, t, t);
      }
      outbound.push({ id, to: to[0]!.address, domain });
      if (outbound.length > 2_000) outbound.splice(0, 1_000);
    }
    if (threads.length > 20_000) threads.splice(0, 10_000);
  }
  sqlite.exec("COMMIT");
  return { aliases, replyKeys, senders: senders.map((s) => s.address) };
}

function sizes(sqlite: DatabaseSync, messages: number): Sizes {
  const pages = sqlite.prepare("pragma page_count").get() as { page_count: number };
  const pageSize = sqlite.prepare("pragma page_size").get() as { page_size: number };
  const tables: Record<string, number> = {};
  try {
    // dbstat, where SQLite was built with it: bytes per table, its indexes included.
    for (const row of sqlite
      .prepare("select coalesce(m.tbl_name, s.name) as name, sum(s.pgsize) as bytes from dbstat s left join sqlite_schema m on m.name = s.name group by 1 order by 2 desc")
      .all() as { name: string; bytes: number }[]) {
      tables[row.name] = row.bytes;
    }
  } catch {
    // No dbstat: the total is still known.
  }
  return { messages, bytes: pages.page_count * pageSize.page_size, tables };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

let serial = 0;
/** The message as Email Routing hands it over (header only: the lookup and the record never read the body). */
function emailMessage(from: string, to: string, subject: string, inReplyTo: string | null): ForwardableEmailMessage {
  serial += 1;
  const header = encoder.encode(
    `Received: from mx.example.org by mx.cloudflare.net; Sat, 21 Nov 2026 10:00:00 +0000\r\n` +
      `From: "Growth Sender" <${from}>\r\nTo: ${to}\r\nCc: Someone <someone@example.org>\r\nSubject: ${subject}\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n` +
      `Message-ID: <growth-${serial}-${Date.now()}@example.org>\r\n` +
      (inReplyTo ? `In-Reply-To: ${inReplyTo}\r\nReferences: ${inReplyTo}\r\n` : "") +
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, a short question about the order.\r\n",
  );
  return {
    from,
    to,
    headers: new Headers(),
    raw: new ReadableStream({
      start(controller) {
        controller.enqueue(header);
        controller.close();
      },
    }),
    rawSize: header.byteLength,
    canBeForwarded: true,
    setReject() {},
    async forward() {
      return { messageId: "<f@x>" };
    },
  } as unknown as ForwardableEmailMessage;
}

interface Captured {
  sql: string;
  params: unknown[];
  ms?: number;
}

describe("growth benchmark", () => {
  it("prints D1 time and bytes per message as the tables grow", { timeout: 3_600_000 }, async () => {
    const rows: string[] = [];
    const tableRows: string[] = [];
    let plans: string[] = [];
    for (const [index, n] of SIZES.entries()) {
      const { env } = standInEnv();
      const sqlite = sqliteOf(env);
      const db = database(env.DB);
      const now = Date.UTC(2026, 10, 21, 10);
      const started = performance.now();
      const filled = fill(sqlite, n, now);
      // Each raw copy's expiry, as storing it sets it (and migration 0009 backfills it).
      await recomputeRawExpiry(db);
      const fillSeconds = (performance.now() - started) / 1000;
      sqlite.exec("analyze");
      const size = sizes(sqlite, n);
      const counts = Object.fromEntries(
        [
          "messages",
          "message_threads",
          "threads",
          "deliveries",
          "message_events",
          "outbound_recipients",
          "outbound_events",
          "bounce_events",
          "contacts",
          "loop_entries",
          "followers",
        ].map((t) => [t, Number((sqlite.prepare(`select count(*) as n from ${t}`).get() as { n: number }).n)]),
      );

      // D1's time: the SQL inside the stand-in's batch and statements (they answer synchronously).
      const d1 = env.DB as unknown as { batch(s: Captured[]): Promise<unknown>; prepare(sql: string): object };
      const batch = d1.batch.bind(d1);
      let batchMs = 0;
      let captured: Captured[] = [];
      let capturing = false;
      d1.batch = async (statements: Captured[]) => {
        if (capturing) captured.push(...statements.map((s) => ({ sql: s.sql, params: s.params })));
        const t0 = performance.now();
        try {
          return await batch(statements);
        } finally {
          batchMs = performance.now() - t0;
        }
      };
      const statementProto = Object.getPrototypeOf(d1.prepare("select 1")) as Record<"all" | "raw" | "run", (this: Captured) => Promise<unknown>>;
      const originals = { all: statementProto.all, raw: statementProto.raw, run: statementProto.run };
      for (const method of ["all", "raw", "run"] as const) {
        const original = originals[method];
        statementProto[method] = async function (this: Captured) {
          const t0 = performance.now();
          try {
            return await original.call(this);
          } finally {
            if (capturing) captured.push({ sql: this.sql, params: this.params, ms: performance.now() - t0 });
          }
        };
      }

      const rand = prng(7);
      const replyMail = async () => {
        const target = filled.replyKeys[Math.floor(rand() * filled.replyKeys.length)]!;
        return (await readInboundMail(emailMessage(target.sender, target.alias, "Re: your order", target.key))).mail;
      };
      const newMail = async () => {
        const alias = filled.aliases[Math.floor(rand() * filled.aliases.length)]!;
        const from = filled.senders[Math.floor(rand() * filled.senders.length)]!;
        return (await readInboundMail(emailMessage(from, alias.address, "A new question", null))).mail;
      };

      // (a) the lookup batch, (b) the record batch, for replies and new mail.
      const lookupReply: number[] = [];
      const lookupNew: number[] = [];
      const recordReply: number[] = [];
      const recordNew: number[] = [];
      for (let i = 0; i < RUNS + 5; i++) {
        for (const [mail, lookups, records] of [
          [await replyMail(), lookupReply, recordReply],
          [await newMail(), lookupNew, recordNew],
        ] as const) {
          const found = await lookup(db, mail, now);
          const lookupMs = batchMs;
          const decision = decide(mail, found.data);
          if (decision.outcome !== "accepted") throw new Error(`not accepted: ${JSON.stringify(decision)}`);
          if (lookups === lookupReply && (decision.reason !== "routed" || decision.routes[0]?.kind !== "thread"))
            throw new Error(`reply not threaded: ${JSON.stringify(decision)}`);
          await recordDecision(db, { mail, decision, data: found.data, rawKey: `raw/growth${i}.eml`, now });
          // The first runs warm the JIT and SQLite's statement paths.
          if (i >= 5) {
            lookups.push(lookupMs);
            records.push(batchMs);
          }
        }
      }

      // (c) the retention sweep: nothing expired at `now`; 80 days later, full batches (1,000 records, 2,000 raw copies), rolled back.
      const sweepNothing: number[] = [];
      const sweepSome: number[] = [];
      let found = { raw: 0, records: 0, threads: 0 };
      for (let i = 0; i < 12; i++) {
        let t0 = performance.now();
        const none = await sweepRetention(env, db, now);
        if (i >= 2) sweepNothing.push(performance.now() - t0);
        if (none.raw || none.records) throw new Error(`sweep at now found ${JSON.stringify(none)}`);
        if (i >= 6) continue;
        sqlite.exec("savepoint sweep");
        t0 = performance.now();
        found = await sweepRetention(env, db, now + 80 * DAY);
        if (i >= 1) sweepSome.push(performance.now() - t0);
        sqlite.exec("rollback to sweep; release sweep");
      }

      rows.push(
        `| ${n.toLocaleString("en")} | ${fillSeconds.toFixed(0)} s | ${(size.bytes / 1e6).toFixed(1)} MB | ${Math.round(size.bytes / n).toLocaleString("en")} | ${fmt(median(lookupReply))} | ${fmt(median(lookupNew))} | ${fmt(median(recordReply))} | ${fmt(median(recordNew))} | ${fmt(median(sweepNothing))} | ${fmt(median(sweepSome))} (${found.records} records, ${found.raw} raw, ${found.threads} threads) |`,
      );
      tableRows.push(
        `| ${n.toLocaleString("en")} | ${Object.entries(counts)
          .map(([t, c]) => `${t} ${c.toLocaleString("en")}`)
          .join(", ")} | ${Object.entries(size.tables)
          .slice(0, 8)
          .map(([t, b]) => `${t} ${Math.round(b / n)}`)
          .join(", ")} |`,
      );

      if (index === SIZES.length - 1) {
        // The plans of every statement the lookup and the sweep run, at the largest size.
        const explain = (label: string, statements: Captured[]) =>
          statements
            .filter((s, i) => statements.findIndex((o) => o.sql === s.sql) === i)
            .flatMap(({ sql, params, ms }) => {
              const plan = sqlite.prepare(`explain query plan ${sql}`).all(...(params as (string | number | null)[])) as { detail: string }[];
              const scans = plan.filter((p) => /^SCAN (?!json_each)/.test(p.detail) && !/USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/.test(p.detail));
              return [
                `${label}${ms === undefined ? "" : ` (${fmt(ms)} ms)`}: ${sql.slice(0, 160)}${sql.length > 160 ? "…" : ""}`,
                ...plan.map((p) => `    ${scans.includes(p) ? "!! " : ""}${p.detail}`),
              ];
            });
        capturing = true;
        captured = [];
        await lookup(db, await replyMail(), now);
        const lookupStatements = captured;
        captured = [];
        await sweepRetention(env, db, now);
        const idleSweep = captured.filter((c) => /^select/i.test(c.sql));
        captured = [];
        sqlite.exec("savepoint sweep");
        await sweepRetention(env, db, now + 80 * DAY);
        sqlite.exec("rollback to sweep; release sweep");
        const sweepStatements = captured.filter((c) => /^select/i.test(c.sql));
        capturing = false;
        plans = [...explain("lookup", lookupStatements), ...explain("sweep at now", idleSweep), ...explain("sweep at +80 days (first run of each)", sweepStatements)];
      }
      Object.assign(statementProto, originals);
      sqlite.close();
    }

    console.log(
      [
        "",
        `Growth: D1 (SQLite in process) ms per operation, median of ${RUNS} runs (sweeps: of 10 and 5); 400 days of mail, raw keys on the last 90:`,
        "",
        "| messages | fill | database | bytes / message | lookup, reply | lookup, new mail | record, reply | record, new mail | sweep, nothing expired | sweep, full batches (+80 days) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ...rows,
        "",
        "| messages | rows | bytes / message by table (indexes included) |",
        "| --- | --- | --- |",
        ...tableRows,
        "",
        "Query plans at the largest size (!! marks a SCAN of a table without an index):",
        "",
        ...plans,
        "",
      ].join("\n"),
    );
  });
});
