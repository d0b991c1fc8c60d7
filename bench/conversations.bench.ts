/**
 * `npm run bench`, conversations part (Node 22 / V8, CPU from V8's
 * profiler, see bench/measure.ts):
 *
 * - reading a bounce: `readBounceReport` on every message file of the
 *   sisimai corpus (../shared/corpus), median, 90th percentile and worst
 *   (the slowest files measured again, longer), then on each message of a
 *   hostile set (bench/hostile-bounces.ts), against the Free plan's 10 ms
 *   of CPU per invocation. Node's own runtime (the Blob that postal-mime
 *   assembles each part's body into, TextDecoder: native code in workerd)
 *   is printed apart, as the rest of the benchmarks do;
 * - building a webhook payload for a 1 MiB message with attachments: one
 *   postal-mime parse (the baseline it may exceed by at most 10 %), then
 *   the rest (addresses and headers, stripped reply, signed links, a small
 *   attachment inlined, JSON, signature), weighed on its own.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import PostalMime from "postal-mime";
import { describe, it } from "vitest";
import { payloadOf } from "../src/deliveries/payload";
import { signatureHeader } from "../src/deliveries/signing";
import { readBounceReport } from "../src/inbound/bounce-report";
import { hostileBounces } from "./hostile-bounces";
import { attributedCpu, fmt } from "./measure";

const SISIMAI = fileURLToPath(new URL("../../shared/corpus/sisimai-set-of-emails/maildir/", import.meta.url));

function corpusFiles(): string[] {
  return readdirSync(SISIMAI, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".eml"))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
const ROUNDS = 7;
/** The Free plan's CPU time per invocation. */
const CEILING_MS = 10;
/** Corpus files measured again, longer, for the worst case: one short profile of each is too noisy to rank by. */
const REMEASURED = 12;

interface Reading {
  name: string;
  /** Our code and its libraries, median of rounds, ms per call. */
  ours: number;
  /** Node's runtime, median of rounds, ms per call. */
  runtime: number;
}

/** CPU per read of one message, the median of three rounds of ten profiled reads. */
async function steadyReading(name: string, bytes: Uint8Array): Promise<Reading> {
  const ours: number[] = [];
  const runtime: number[] = [];
  for (let round = 0; round < 3; round++) {
    const cpu = await attributedCpu(() => readBounceReport(bytes), 3, 10);
    ours.push(cpu.ours);
    runtime.push(cpu.runtime);
  }
  return { name, ours: median(ours), runtime: median(runtime) };
}

/** About 1 MiB: text and html bodies, a 40 KB, a 250 KB and a 460 KB attachment. */
function webhookMessage(): Uint8Array {
  const file = (bytes: number, seed: number) => {
    const data = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i++) data[i] = (i * 31 + seed) & 0xff;
    return Buffer.from(data).toString("base64").replace(/.{76}/g, "$&\r\n");
  };
  const text = `Thanks, Tuesday works for me.\r\n\r\nOn Fri, Nov 20, 2026 at 10:00 AM Bob <bob@example.org> wrote:\r\n${"> Does Tuesday work for the review?\r\n".repeat(200)}`;
  const part = (type: string, name: string, body: string) =>
    `--b\r\nContent-Type: ${type}; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}\r\n`;
  const raw =
    'From: "Mary Major" <mary@example.org>\r\nTo: "Hooks" <hooks@bench.example>\r\nCc: ann@example.org\r\nSubject: =?UTF-8?Q?R=C3=A9union?= notes\r\n' +
    "Message-ID: <bench-webhook@example.org>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
    `--b\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>${text.replace(/\r\n/g, "<br>")}</p>\r\n--a--\r\n` +
    part("text/csv", "small.csv", file(40_000, 1)) +
    part("image/png", "photo.png", file(250_000, 2)) +
    part("application/pdf", "report.pdf", file(460_000, 3)) +
    "--b--\r\n";
  return new TextEncoder().encode(raw);
}

describe("conversations benchmark", () => {
  it("prints CPU to read a bounce and to build a webhook payload", { timeout: 600_000 }, async () => {
    const files = corpusFiles();
    const firstPass: { path: string; ours: number }[] = [];
    for (const path of files) {
      const bytes = new Uint8Array(readFileSync(path));
      firstPass.push({ path, ours: (await attributedCpu(() => readBounceReport(bytes), 2, 5)).ours });
    }
    const perFile = firstPass.map((file) => file.ours).sort((a, b) => a - b);
    const slowest = [...firstPass].sort((a, b) => b.ours - a.ours).slice(0, REMEASURED);
    const corpusWorst: Reading[] = [];
    for (const { path } of slowest) corpusWorst.push(await steadyReading(path.slice(SISIMAI.length), new Uint8Array(readFileSync(path))));
    corpusWorst.sort((a, b) => b.ours - a.ours);

    const hostile: Reading[] = [];
    const encoder = new TextEncoder();
    for (const [name, message] of hostileBounces()) hostile.push(await steadyReading(name, encoder.encode(message)));
    hostile.sort((a, b) => b.ours - a.ours);
    const readingRow = (r: Reading) => `| ${r.name} | ${fmt(r.ours)} | ${fmt(r.runtime)} |`;

    const raw = webhookMessage();
    const message = {
      id: "msg_bench",
      messageId: "<bench-webhook@example.org>",
      mailFrom: "mary@example.org",
      rcptTo: "hooks@bench.example",
      size: raw.byteLength,
      decision: { outcome: "accepted" as const, reason: "routed" as const, routes: [], refused: [], skipped: [] },
      createdAt: new Date(),
    };
    // The payload costs one parse plus the rest; weighing the rest alone is steadier than
    // subtracting two profiles of the whole, which each vary by a third from run to run.
    const parsed = await PostalMime.parse(raw);
    const rest = async () => {
      const payload = await payloadOf(parsed, {
        deliveryId: "dlv_bench",
        redeliveryOf: null,
        message,
        threadId: "thr_bench",
        aliasId: "als_bench",
        inlineMaxBytes: 64 * 1024,
        publicUrl: "https://mail.bench.example",
        secretsKey: "bench-secrets-key",
        now: Date.now(),
      });
      return signatureHeader(["whsec_bench_secret_one", "whsec_bench_secret_two"], Math.floor(Date.now() / 1000), JSON.stringify(payload));
    };
    const parses: number[] = [];
    const rests: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      parses.push((await attributedCpu(() => PostalMime.parse(raw), 5, 20)).ours);
      rests.push((await attributedCpu(rest, 5, 20)).ours);
    }
    const parse = median(parses);
    const extra = median(rests);

    console.log(
      [
        "",
        `Reading a bounce (readBounceReport), CPU ms per message over ${files.length} sisimai files (one short profile each):`,
        "",
        "| median | 90th percentile | worst |",
        "| --- | --- | --- |",
        `| ${fmt(percentile(perFile, 0.5))} | ${fmt(percentile(perFile, 0.9))} | ${fmt(perFile.at(-1)!)} |`,
        "",
        `The ${REMEASURED} slowest files measured again (median of 3 rounds of 10 reads), CPU ms per read, the 5 slowest:`,
        "",
        "| file | ours | Node runtime |",
        "| --- | --- | --- |",
        ...corpusWorst.slice(0, 5).map(readingRow),
        "",
        `Hostile messages (${hostile.length}, bench/hostile-bounces.ts, about 512 KiB each), CPU ms per read, slowest first:`,
        "",
        "| message | ours | Node runtime |",
        "| --- | --- | --- |",
        ...hostile.map(readingRow),
        "",
        `Worst case, our CPU per read (ceiling ${CEILING_MS} ms): corpus ${fmt(corpusWorst[0]!.ours)} ms (${corpusWorst[0]!.name}), ` +
          `hostile ${fmt(hostile[0]!.ours)} ms (${hostile[0]!.name}); ` +
          `with Node's runtime: corpus ${fmt(Math.max(...corpusWorst.map((r) => r.ours + r.runtime)))} ms, hostile ${fmt(Math.max(...hostile.map((r) => r.ours + r.runtime)))} ms.`,
        "",
        `Webhook payload for a ${(raw.byteLength / 1048576).toFixed(2)} MiB message with 3 attachments, CPU ms:`,
        "",
        "| postal-mime full parse (baseline) | the rest: addresses, headers, stripped reply, links, inlining, JSON, signature | payload in all, against the parse |",
        "| --- | --- | --- |",
        `| ${fmt(parse)} | ${fmt(extra)} | ${((parse + extra) / parse).toFixed(3)} |`,
        "",
      ].join("\n"),
    );
  });
});
