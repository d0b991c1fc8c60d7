/**
 * `npm run bench`, provider events part (Node 22 / V8, bindings answered in
 * process, see bench/bindings.ts; CPU from V8's profiler, see
 * bench/measure.ts):
 *
 * - per provider (Postmark, Resend, SES through SNS with SignatureVersion 2,
 *   Mailgun, SendGrid): one signed webhook request carrying one hard bounce,
 *   through the Hono app's `fetch` (`POST /hooks/relays/{id}`: the relay
 *   and its sealed `config.events`, verify, read, tie, apply), each request
 *   a new event (new event id, new recipient, its own message), then the
 *   same requests again (replays: verified, read, tied, found recorded);
 * - a batch of 100 Cloudflare Email Service events through the event
 *   queue's consumer (`consumeEmailEvents`), new events then replays;
 * - where the main thread's time goes, by package and src/ directory.
 *
 * Each message was sent to one recipient and one copy; no event hook is
 * subscribed. The requests are signed before they are timed, with the
 * tests' signers (test/provider-events/). Node runs WebCrypto's digests,
 * HMACs, AES-GCM and signature checks on libuv's thread pool, which the
 * main-thread profile does not see (workerd runs them on the Worker's
 * thread, where they count), so each figure is also given as the process's
 * CPU on every thread without the profiler, and the verification alone
 * apart.
 */
import type { DatabaseSync } from "node:sqlite";
import { describe, it } from "vitest";
import { createApp } from "../src/api/app";
import { systemClock } from "../src/clock";
import { consumeEmailEvents } from "../src/events/email-service";
import { PROVIDER_HOOKS } from "../src/events/providers";
import type { EventsConfig, HookRequest } from "../src/events/types";
import { cloudflareBouncedHard } from "../test/provider-events/cloudflare";
import { MAILGUN_SIGNING_KEY, mailgunHardBounce, mailgunMessage, signedMailgunRequest } from "../test/provider-events/mailgun";
import { POSTMARK_PASSWORD, POSTMARK_USERNAME, postmarkBounce, postmarkRequest } from "../test/provider-events/postmark";
import { RESEND_HARD_BOUNCE, RESEND_SECRET, resendBounced, signedResendRequest } from "../test/provider-events/resend";
import { sendgridHardBounce, sendgridKeys, signedSendgridRequest } from "../test/provider-events/sendgrid";
import { sesBounce, snsNotification, snsRequest, snsSigner } from "../test/provider-events/ses";
import { type Counts, standInEnv } from "./bindings";
import { attributedCpu, cpuProfile, fmt } from "./measure";

/** Rounds per figure: each printed as the median and the range of the rounds. */
const ROUNDS = 5;
/**
 * Requests per profile (after WARM_UP unprofiled ones). Starting and
 * stopping V8's profiler costs a fixed 0.1-0.2 s of Node's runtime per
 * profile here (printed), which lands in "all code", not in "our code":
 * enough calls per profile keep it small.
 */
const WARM_UP = 30;
const RUNS = 400;
/** Requests per timing without the profiler. */
const UNPROFILED_RUNS = 200;
/** Calls of a provider's verify alone per profile (each a fraction of a millisecond). */
const VERIFY_RUNS = 1000;
/** Cloudflare batches per profile (after BATCH_WARM_UP), of BATCH_SIZE events each, and per timing without the profiler. */
const BATCH_SIZE = 100;
const BATCH_WARM_UP = 2;
const BATCH_RUNS = 16;
/** Replayed batches per profile: the 18 batches again and again (a replay costs little, and the profile's own cost must be spread). */
const BATCH_REPLAY_RUNS = 80;
const UNPROFILED_BATCHES = 8;
/** The target of issue 9: our code per event. */
const TARGET_MS = 1;

type ProviderType = "postmark" | "resend" | "ses" | "mailgun" | "sendgrid";

/** What an event is about: one recipient of one message we sent, by the id the provider answered. */
interface Target {
  serial: number;
  providerId: string;
  recipient: string;
}

interface Provider {
  type: ProviderType;
  label: string;
  /** The relay's settings for `POST /v1/relays`, `events` included. */
  config: Record<string, unknown>;
  /** The id the relay stored at send time (`provider_ids`). */
  idFor(serial: number): string;
  /** The provider's request for a hard bounce of this recipient: a new event (its own event id). */
  sign(target: Target): Promise<HookRequest>;
}

interface Sample {
  ours: number;
  all: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
/** `median (min-max)` of the rounds. */
const spread = (values: number[]) => `${fmt(median(values))} (${fmt(Math.min(...values))}-${fmt(Math.max(...values))})`;

/** CPU ms per call on every thread of the process (process.cpuUsage), without the profiler: an upper bound that includes WebCrypto's thread pool. */
async function processCpu(fn: (i: number) => Promise<unknown>, calls: number): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) await fn(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / calls;
}

/**
 * Where the main thread's CPU goes, ms per call, by area: the nearest frame
 * with a source file, as bench/measure.ts attributes samples, then grouped
 * by package (node_modules) or directory (src/).
 */
async function cpuByArea(fn: (i: number) => Promise<unknown>, warmUp: number, runs: number): Promise<Map<string, number>> {
  const profile = await cpuProfile(fn, warmUp, runs);
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const areaOf = (id: number): string | null => {
    const name = nodes.get(id)!.callFrame.functionName;
    if (name === "(idle)" || name === "(program)") return null;
    if (name === "(garbage collector)") return "GC";
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const url = nodes.get(at)!.callFrame.url;
      if (!url) continue;
      if (url.includes("/bench/")) return "stand-ins (bench/)";
      if (url.startsWith("node:")) return "Node runtime";
      const pkg = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
      if (pkg) return pkg[1]!;
      const own = /\/src\/((?:[^/]+\/)*)[^/]+$/.exec(url);
      if (own) return own[1] ? `src/${own[1].slice(0, -1)}` : "src/*.ts";
      return url;
    }
    return "Node runtime";
  };
  const areas = new Map<string, number>();
  for (const [i, id] of profile.samples.entries()) {
    const area = areaOf(id);
    if (area) areas.set(area, (areas.get(area) ?? 0) + profile.timeDeltas[i]! / 1000 / runs);
  }
  return areas;
}

describe("provider events benchmark", () => {
  it("prints CPU per provider event and per batch of Cloudflare events", { timeout: 1_800_000 }, async () => {
    const { env, counts } = standInEnv();
    const sqlite = (env.DB as unknown as { sqlite: DatabaseSync }).sqlite;
    const app = createApp(systemClock);
    const now = Date.now();
    sqlite.exec(`insert into domains (name, company_name, created_at, updated_at) values ('bench.example', 'Bench', ${now}, ${now});`);

    const [signer, keys] = await Promise.all([snsSigner(), sendgridKeys()]);
    const providers: Provider[] = [
      {
        type: "postmark",
        label: "Postmark (Basic credentials)",
        config: { server_token: "bench-postmark-server-token", events: { username: POSTMARK_USERNAME, password: POSTMARK_PASSWORD } },
        idFor: () => crypto.randomUUID(),
        sign: async (t) => postmarkRequest(postmarkBounce("HardBounce", { ID: t.serial, MessageID: t.providerId, Email: t.recipient })),
      },
      {
        type: "resend",
        label: "Resend (Svix HMAC-SHA256)",
        config: { api_key: "re_bench_api_key", events: { secret: RESEND_SECRET } },
        idFor: () => crypto.randomUUID(),
        sign: (t) => signedResendRequest(resendBounced(RESEND_HARD_BOUNCE, { emailId: t.providerId, to: [t.recipient] }), { id: `msg_bench${t.serial}` }),
      },
      {
        type: "ses",
        label: "SES via SNS v2 (RSA SHA-256, X.509)",
        config: {
          region: "eu-west-1",
          access_key_id: "AKIABENCHBENCHBENCH0",
          secret_access_key: "bench-secret-access-key",
          events: { certificate: signer.certificate },
        },
        idFor: (serial) => `0102018f${serial.toString(16).padStart(8, "0")}-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000`,
        sign: async (t) =>
          snsRequest(
            await snsNotification(
              signer,
              sesBounce({
                messageId: t.providerId,
                bouncedRecipients: [{ emailAddress: t.recipient, action: "failed", status: "5.1.1", diagnosticCode: "smtp; 550 5.1.1 user unknown" }],
              }),
              { version: "2", messageId: crypto.randomUUID() },
            ),
          ),
      },
      {
        type: "mailgun",
        label: "Mailgun (HMAC-SHA256)",
        config: { domain: "mg.bench.example", api_key: "key-bench-api-key", events: { signing_key: MAILGUN_SIGNING_KEY } },
        idFor: (serial) => `20261130120000.${serial}.0DF563D0B3597700@mg.bench.example`,
        sign: (t) =>
          signedMailgunRequest(mailgunHardBounce({ id: `bench-event-${t.serial}`, recipient: t.recipient, message: mailgunMessage(t.providerId) }), {
            token: `${t.serial}`.padStart(50, "e"),
          }),
      },
      {
        type: "sendgrid",
        label: "SendGrid (ECDSA P-256)",
        config: { api_key: "SG.bench-api-key", events: { public_key: keys.publicKey } },
        idFor: (serial) => `bench${serial.toString(36)}x`,
        sign: (t) =>
          signedSendgridRequest(
            [sendgridHardBounce({ sg_event_id: `bench-event-${t.serial}`, sg_message_id: `${t.providerId}.filter0001.16648.5515E0B88.0`, email: t.recipient })],
            keys,
          ),
      },
    ];

    // The relays, through the API (the events settings sealed as in production).
    const relayIds = new Map<string, string>();
    for (const { type, config } of [...providers, { type: "cloudflare", config: {} }]) {
      const response = await app.fetch(
        new Request("https://bench/v1/relays", {
          method: "POST",
          headers: { Authorization: "Bearer bench", "Content-Type": "application/json" },
          body: JSON.stringify({ name: `bench ${type}`, type, from_filter: "bench.example", config }),
        }),
        env,
      );
      if (response.status !== 201) throw new Error(`creating the ${type} relay: ${response.status} ${await response.text()}`);
      relayIds.set(type, ((await response.json()) as { id: string }).id);
    }

    // Messages we sent, each to one recipient and one copy, with the id the relay stored.
    let serial = 0;
    const insertMessage = sqlite.prepare(
      `insert into messages (id, direction, status, message_id, mail_from, rcpt_to, from_address, "to", cc, subject, size, decision, relay_id, stream, created_at, updated_at)
       values (?, 'outbound', 'sent', ?, 'bounce+x@bench.example', ?, 'mary@bench.example', ?, ?, 'Your receipt', 4000, '{"outcome":"accepted"}', ?, 'transactional', ?, ?)`,
    );
    const insertRecipient = sqlite.prepare("insert into outbound_recipients (message_id, address, kind, status, source, updated_at) values (?, ?, ?, 'sent', 'smtp', ?)");
    const insertProviderId = sqlite.prepare("insert into provider_ids (relay_id, provider_message_id, recipient, message_id) values (?, ?, ?, ?)");
    /** Sent messages through a relay: one provider id per message, or (Cloudflare) one per recipient. */
    const seed = (relayId: string, count: number, idFor: (serial: number) => string, perRecipient: boolean): Target[] => {
      const targets: Target[] = [];
      const at = Date.now();
      sqlite.exec("BEGIN");
      for (let i = 0; i < count; i++) {
        serial++;
        const id = `msg_ev${serial}`;
        const recipient = `bounce${serial}@example.net`;
        const copy = `copy${serial}@example.org`;
        insertMessage.run(
          id,
          `<${id}@bench.example>`,
          `${recipient},${copy}`,
          JSON.stringify([{ name: "", address: recipient }]),
          JSON.stringify([{ name: "", address: copy }]),
          relayId,
          at,
          at,
        );
        insertRecipient.run(id, recipient, "to", at);
        insertRecipient.run(id, copy, "cc", at);
        const providerId = idFor(serial);
        if (perRecipient) {
          insertProviderId.run(relayId, providerId, recipient, id);
          insertProviderId.run(relayId, idFor(serial + 1_000_000_000), copy, id);
        } else insertProviderId.run(relayId, providerId, "", id);
        targets.push({ serial, providerId, recipient });
      }
      sqlite.exec("COMMIT");
      return targets;
    };
    const recorded = (relayId: string) => Number((sqlite.prepare("select count(*) as n from outbound_events where relay_id = ?").get(relayId) as { n: number }).n);
    const expectRecorded = (relayId: string, expected: number, what: string) => {
      const found = recorded(relayId);
      if (found !== expected) throw new Error(`${what}: ${found} events recorded, expected ${expected}`);
    };
    const d1 = (before: Counts, calls: number) => ({ batches: (counts.d1Batches - before.d1Batches) / calls, single: (counts.d1Queries - before.d1Queries) / calls });

    // --- provider webhooks ------------------------------------------------------------------

    const toRequest = (relayId: string, hook: HookRequest) => new Request(`https://bench/hooks/relays/${relayId}`, { method: "POST", headers: hook.headers, body: hook.body });
    const post = async (request: Request) => {
      const response = await app.fetch(request, env);
      if (response.status !== 200) throw new Error(`${request.url}: ${response.status} ${await response.text()}`);
    };
    /** New events for a provider: messages seeded, requests signed (before anything is timed). */
    const freshEvents = async (provider: Provider, count: number) => {
      const relayId = relayIds.get(provider.type)!;
      const hooks: HookRequest[] = [];
      for (const target of seed(relayId, count, provider.idFor, false)) hooks.push(await provider.sign(target));
      return hooks;
    };

    interface ProviderResult {
      fresh: Sample[];
      replay: Sample[];
      freshEveryThread: number[];
      replayEveryThread: number[];
      verifyOurs: number[];
      verifyEveryThread: number[];
      d1Fresh: { batches: number; single: number };
      d1Replay: { batches: number; single: number };
    }
    const results = new Map<ProviderType, ProviderResult>(
      providers.map((p) => [
        p.type,
        {
          fresh: [],
          replay: [],
          freshEveryThread: [],
          replayEveryThread: [],
          verifyOurs: [],
          verifyEveryThread: [],
          d1Fresh: { batches: 0, single: 0 },
          d1Replay: { batches: 0, single: 0 },
        },
      ]),
    );
    const applied = new Map<ProviderType, number>(providers.map((p) => [p.type, 0]));

    // Warm every path first, so the first provider measured does not pay for the JIT.
    for (const provider of providers) {
      const relayId = relayIds.get(provider.type)!;
      const hooks = await freshEvents(provider, 100);
      for (const hook of hooks) await post(toRequest(relayId, hook));
      for (const hook of hooks) await post(toRequest(relayId, hook));
      applied.set(provider.type, applied.get(provider.type)! + hooks.length);
      expectRecorded(relayId, applied.get(provider.type)!, `${provider.type} warm-up`);
    }

    for (let round = 0; round < ROUNDS; round++) {
      for (const provider of providers) {
        const relayId = relayIds.get(provider.type)!;
        const result = results.get(provider.type)!;
        const calls = WARM_UP + RUNS;
        const hooks = await freshEvents(provider, calls);
        const extra = await freshEvents(provider, UNPROFILED_RUNS);

        // New events: verify, read, tie, apply.
        const fresh = hooks.map((hook) => toRequest(relayId, hook));
        let before = { ...counts };
        const cpu = await attributedCpu((i) => post(fresh[i]!), WARM_UP, RUNS);
        result.d1Fresh = d1(before, calls);
        result.fresh.push({ ours: cpu.ours, all: cpu.ours + cpu.standIns + cpu.runtime });
        const unprofiled = extra.map((hook) => toRequest(relayId, hook));
        result.freshEveryThread.push(await processCpu((i) => post(unprofiled[i]!), UNPROFILED_RUNS));
        applied.set(provider.type, applied.get(provider.type)! + calls + UNPROFILED_RUNS);
        expectRecorded(relayId, applied.get(provider.type)!, `${provider.type} new events`);

        // The same requests again: verified, read, tied, found recorded, nothing changed.
        const replays = hooks.map((hook) => toRequest(relayId, hook));
        before = { ...counts };
        const replay = await attributedCpu((i) => post(replays[i]!), WARM_UP, RUNS);
        result.d1Replay = d1(before, calls);
        result.replay.push({ ours: replay.ours, all: replay.ours + replay.standIns + replay.runtime });
        const unprofiledReplays = extra.map((hook) => toRequest(relayId, hook));
        result.replayEveryThread.push(await processCpu((i) => post(unprofiledReplays[i]!), UNPROFILED_RUNS));
        expectRecorded(relayId, applied.get(provider.type)!, `${provider.type} replays`);

        // The verification alone (the provider module's verify, with the settings as unsealed).
        const hook = PROVIDER_HOOKS[provider.type]!;
        const config = (provider.config as { events: EventsConfig }).events;
        const check = async (i: number) => {
          const verified = await hook.verify(hooks[i % hooks.length]!, config, Date.now());
          if (!verified.ok) throw new Error(`${provider.type}: ${verified.reason}`);
        };
        const verifyCpu = await attributedCpu(check, WARM_UP, VERIFY_RUNS);
        result.verifyOurs.push(verifyCpu.ours);
        result.verifyEveryThread.push(await processCpu(check, VERIFY_RUNS));
      }
    }

    // --- the Cloudflare event queue -------------------------------------------------------------

    const cloudflareRelay = relayIds.get("cloudflare")!;
    let queueSerial = 0;
    const cloudflareId = (n: number) => `<bench${n.toString(36).padStart(31, "0")}x@bench.example>`;
    /** Batches of new events, as the queue delivers them (bodies already deserialized). */
    const freshBatches = (batches: number): unknown[][] =>
      Array.from({ length: batches }, () =>
        seed(cloudflareRelay, BATCH_SIZE, cloudflareId, true).map((t) =>
          cloudflareBouncedHard({
            // Events carry the id bare; the reader brackets it as send() answered it.
            messageId: t.providerId.slice(1, -1),
            recipient: t.recipient,
            eventId: crypto.randomUUID(),
            eventTimestamp: new Date().toISOString(),
          }),
        ),
      );
    const asMessages = (bodies: unknown[][]): Message<unknown>[][] =>
      bodies.map((batch) => batch.map((body) => ({ id: `qm${++queueSerial}`, timestamp: new Date(), body, attempts: 1, ack() {}, retry() {} })));
    const consume = (batches: Message<unknown>[][]) => (i: number) => consumeEmailEvents(env, batches[i]!, Date.now());

    const queue = {
      fresh: [] as Sample[],
      replay: [] as Sample[],
      freshEveryThread: [] as number[],
      replayEveryThread: [] as number[],
      d1Fresh: { batches: 0, single: 0 },
      d1Replay: { batches: 0, single: 0 },
    };
    let queued = 0;
    for (const batch of asMessages(freshBatches(3))) await consumeEmailEvents(env, batch, Date.now());
    queued += 3 * BATCH_SIZE;
    expectRecorded(cloudflareRelay, queued, "cloudflare warm-up");
    for (let round = 0; round < ROUNDS; round++) {
      const calls = BATCH_WARM_UP + BATCH_RUNS;
      const bodies = freshBatches(calls);
      const extra = freshBatches(UNPROFILED_BATCHES);
      let before = { ...counts };
      const cpu = await attributedCpu(consume(asMessages(bodies)), BATCH_WARM_UP, BATCH_RUNS);
      queue.d1Fresh = d1(before, calls);
      queue.fresh.push({ ours: cpu.ours, all: cpu.ours + cpu.standIns + cpu.runtime });
      queue.freshEveryThread.push(await processCpu(consume(asMessages(extra)), UNPROFILED_BATCHES));
      queued += (calls + UNPROFILED_BATCHES) * BATCH_SIZE;
      expectRecorded(cloudflareRelay, queued, "cloudflare new events");

      before = { ...counts };
      const replayed = Array.from({ length: BATCH_WARM_UP + BATCH_REPLAY_RUNS }, (_, i) => bodies[i % bodies.length]!);
      const replay = await attributedCpu(consume(asMessages(replayed)), BATCH_WARM_UP, BATCH_REPLAY_RUNS);
      queue.d1Replay = d1(before, replayed.length);
      queue.replay.push({ ours: replay.ours, all: replay.ours + replay.standIns + replay.runtime });
      queue.replayEveryThread.push(await processCpu(consume(asMessages(extra)), UNPROFILED_BATCHES));
      expectRecorded(cloudflareRelay, queued, "cloudflare replays");
    }

    // --- where the time goes --------------------------------------------------------------------

    const areas = new Map<string, Map<string, number>>();
    for (const provider of providers) {
      const relayId = relayIds.get(provider.type)!;
      const requests = (await freshEvents(provider, WARM_UP + RUNS)).map((hook) => toRequest(relayId, hook));
      areas.set(provider.type, await cpuByArea((i) => post(requests[i]!), WARM_UP, RUNS));
    }
    const perEvent = new Map(
      [...(await cpuByArea(consume(asMessages(freshBatches(BATCH_WARM_UP + BATCH_RUNS))), BATCH_WARM_UP, BATCH_RUNS))].map(([area, ms]) => [area, ms / BATCH_SIZE]),
    );
    areas.set("cloudflare", perEvent);

    // Every event measured did what a hard bounce does: the recipient bounced and suppressed, once.
    const total = (sql: string) => Number((sqlite.prepare(sql).get() as { n: number }).n);
    const events = total("select count(*) as n from outbound_events");
    const bounced = total("select count(*) as n from outbound_recipients where status = 'bounced' and source = 'provider_event'");
    const suppressed = total("select count(*) as n from suppressions");
    if (bounced !== events || suppressed !== events) throw new Error(`${events} events recorded, ${bounced} recipients bounced, ${suppressed} suppressed`);

    // What a profile costs whatever it holds (the profiler starting and stopping: Node's runtime), spread over its calls.
    const overheads: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const empty = await attributedCpu(async () => {}, 0, 1);
      overheads.push(empty.ours + empty.standIns + empty.runtime);
    }

    // --- the tables -----------------------------------------------------------------------------

    const trips = (d: { batches: number; single: number }, digits = 0) => `${d.batches.toFixed(digits)} + ${d.single.toFixed(digits)}`;
    const rows: string[] = [];
    for (const provider of providers) {
      const r = results.get(provider.type)!;
      rows.push(
        `| ${provider.label}, new event | ${spread(r.fresh.map((s) => s.ours))} | ${spread(r.fresh.map((s) => s.all))} | ${spread(r.freshEveryThread)} | ${trips(r.d1Fresh)} |`,
        `| ${provider.label}, replay | ${spread(r.replay.map((s) => s.ours))} | ${spread(r.replay.map((s) => s.all))} | ${spread(r.replayEveryThread)} | ${trips(r.d1Replay)} |`,
      );
    }
    const perEventOf = (values: number[]) => values.map((v) => v / BATCH_SIZE);
    rows.push(
      `| Cloudflare queue, batch of ${BATCH_SIZE} new events, per batch | ${spread(queue.fresh.map((s) => s.ours))} | ${spread(queue.fresh.map((s) => s.all))} | ${spread(queue.freshEveryThread)} | ${trips(queue.d1Fresh)} |`,
      `| Cloudflare queue, new events, per event | ${spread(perEventOf(queue.fresh.map((s) => s.ours)))} | ${spread(perEventOf(queue.fresh.map((s) => s.all)))} | ${spread(perEventOf(queue.freshEveryThread))} | ${trips({ batches: queue.d1Fresh.batches / BATCH_SIZE, single: queue.d1Fresh.single / BATCH_SIZE }, 2)} |`,
      `| Cloudflare queue, batch of ${BATCH_SIZE} replays, per batch | ${spread(queue.replay.map((s) => s.ours))} | ${spread(queue.replay.map((s) => s.all))} | ${spread(queue.replayEveryThread)} | ${trips(queue.d1Replay)} |`,
      `| Cloudflare queue, replays, per event | ${spread(perEventOf(queue.replay.map((s) => s.ours)))} | ${spread(perEventOf(queue.replay.map((s) => s.all)))} | ${spread(perEventOf(queue.replayEveryThread))} | ${trips({ batches: queue.d1Replay.batches / BATCH_SIZE, single: queue.d1Replay.single / BATCH_SIZE }, 2)} |`,
    );

    const verifyRows = providers.map((p) => {
      const r = results.get(p.type)!;
      return `| ${p.label} | ${spread(r.verifyOurs)} | ${spread(r.verifyEveryThread)} |`;
    });

    const columns = [...providers.map((p) => p.type), "cloudflare"];
    const totals = new Map<string, number>();
    for (const byArea of areas.values()) for (const [area, ms] of byArea) totals.set(area, (totals.get(area) ?? 0) + ms);
    const shown = [...totals.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([area]) => area);
    const areaRows = shown.map((area) => `| ${area} | ${columns.map((c) => fmt(areas.get(c)!.get(area) ?? 0)).join(" | ")} |`);
    areaRows.push(
      `| the rest | ${columns.map((c) => fmt([...areas.get(c)!.entries()].filter(([area]) => !shown.includes(area)).reduce((sum, [, ms]) => sum + ms, 0))).join(" | ")} |`,
    );

    const worst = Math.max(...providers.map((p) => median(results.get(p.type)!.fresh.map((s) => s.ours))), median(perEventOf(queue.fresh.map((s) => s.ours))));
    console.log(
      [
        "",
        `Provider events, CPU ms (Node 22 / V8; bindings answered in process); median (range) of ${ROUNDS} rounds, each a profile of ${RUNS} requests, ${BATCH_RUNS} batches (${BATCH_REPLAY_RUNS} replayed), and a timing of ${UNPROFILED_RUNS} requests or ${UNPROFILED_BATCHES} batches without the profiler:`,
        "",
        "| event | our code | all code, main thread (stand-ins and Node's runtime in) | every thread, no profiler (WebCrypto's thread pool in) | D1 round trips: batches + single statements |",
        "| --- | --- | --- | --- | --- |",
        ...rows,
        "",
        `Target (issue 9): under ${TARGET_MS} ms of our code per event: ${worst < TARGET_MS ? "met" : "NOT met"} (worst median ${fmt(worst)} ms).`,
        `A profile of nothing costs ${spread(overheads)} ms of Node's runtime (the profiler starting and stopping): "all code" holds it, ${fmt(median(overheads) / RUNS)} ms per request, ${fmt(median(overheads) / BATCH_RUNS)} per batch of new events, ${fmt(median(overheads) / BATCH_REPLAY_RUNS)} per batch of replays; "our code" does not.`,
        "",
        "The verification alone (the provider module's verify on a signed request, no D1), CPU ms per request:",
        "",
        "| provider | our code | every thread, no profiler (Node's WebCrypto, key import, X.509 parse and the thread pool's digests, HMACs, signature checks in) |",
        "| --- | --- | --- |",
        ...verifyRows,
        "",
        "Where the main thread's time goes, new events, CPU ms per event (one profile each; GC apart; Node's runtime holds the profile's own cost):",
        "",
        `| area | ${columns.join(" | ")} |`,
        `| --- | ${columns.map(() => "---").join(" | ")} |`,
        ...areaRows,
        "",
      ].join("\n"),
    );
  });
});
