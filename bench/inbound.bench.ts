/**
 * `npm run bench`, inbound part. For messages of 2 KB to 25 MiB it prints
 * the CPU time (Node 22, the V8 engine workerd runs) of:
 *
 * - the routing decision: reading the header block off the message stream,
 *   parsing it with postal-mime, and deciding;
 * - the whole `email()` handler, with D1 and R2 answered by in-process
 *   stand-ins (bench/bindings.ts), split by V8's profiler into our code
 *   (src/ and its libraries) and the rest (the stand-ins: D1's and R2's own
 *   work in production; Node's web streams moving the bytes: native code in
 *   workerd);
 * - the baseline: postal-mime parsing the full message;
 *
 * and the binding operations one message costs.
 */
import PostalMime from "postal-mime";
import { describe, it } from "vitest";
import { database } from "../src/db/client";
import { lookup } from "../src/inbound/lookup";
import { claimLoopSlots } from "../src/inbound/loop-guard";
import { readInboundMail, receive } from "../src/inbound/receive";
import { decide } from "../src/inbound/route";
import { standInEnv } from "./bindings";
import { attributedCpu, fmt } from "./measure";

const CHUNK = 64 * 1024;
const SIZES: [string, number][] = [
  ["2 KB", 2_000],
  ["100 KB", 100_000],
  ["1 MiB", 1 << 20],
  ["10 MiB", 10 << 20],
  ["25 MiB", 25 << 20],
];

const encoder = new TextEncoder();

/** A multipart message of about `size` bytes: a text part and a base64 attachment. */
function makeBody(size: number): Uint8Array {
  const head =
    '--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, please find the file attached.\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="data.bin"\r\n\r\n';
  const tail = "\r\n--b--\r\n";
  const line = `${"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx"}\r\n`;
  const lines = Math.max(1, Math.floor((size - head.length - tail.length - 400) / line.length));
  return encoder.encode(head + line.repeat(lines) + tail);
}

let serial = 0;
function headerFor(sender: string): Uint8Array {
  serial += 1;
  return encoder.encode(
    `Received: from mx.example.org by mx.cloudflare.net; Sat, 21 Nov 2026 10:00:00 +0000\r\n` +
      `From: "Bench Sender" <${sender}>\r\nTo: sales@bench.example\r\nCc: Someone <someone@example.org>\r\n` +
      `Subject: =?utf-8?q?Benchmark_message_=E2=9C=93?=\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n` +
      `Message-ID: <bench-${serial}-${Date.now()}@example.org>\r\nMIME-Version: 1.0\r\n` +
      `Content-Type: multipart/mixed; boundary="b"\r\n\r\n`,
  );
}

/** The message as Email Routing streams it: header, then the body in 64 KiB chunks (no copies). */
function streamOf(header: Uint8Array, body: Uint8Array): ReadableStream<Uint8Array> {
  let offset = -1;
  return new ReadableStream({
    pull(controller) {
      if (offset < 0) {
        controller.enqueue(header);
        offset = 0;
      } else if (offset < body.byteLength) {
        controller.enqueue(body.subarray(offset, offset + CHUNK));
        offset += CHUNK;
      } else controller.close();
    },
  });
}

function message(header: Uint8Array, body: Uint8Array, sender: string) {
  return {
    from: sender,
    to: "sales@bench.example",
    headers: new Headers(),
    raw: streamOf(header, body),
    rawSize: header.byteLength + body.byteLength,
    canBeForwarded: true,
    setReject() {},
    async forward() {
      return { messageId: "<f@x>" };
    },
  } as unknown as ForwardableEmailMessage;
}

describe("inbound benchmark", () => {
  it("prints CPU per message by size", { timeout: 600_000 }, async () => {
    const { env, counts } = standInEnv();
    const db = database(env.DB);
    const now = Date.now();
    (env.DB as unknown as { sqlite: { exec(sql: string): void } }).sqlite.exec(
      `insert into domains (name, company_name, created_at, updated_at) values ('bench.example', 'Bench', ${now}, ${now});` +
        `insert into aliases (id, name, domain, address, destinations, created_at, updated_at) values ('als_bench', 'sales', 'bench.example', 'sales@bench.example', '[{"type":"store"}]', ${now}, ${now});`,
    );
    // The data the decision reads, as the D1 lookup returns it for such a message.
    const probe = await readInboundMail(message(headerFor("probe@example.org"), makeBody(2_000), "probe@example.org"));
    const { data } = await lookup(db, probe.mail, now);

    // Warm the JIT on every path first, so the first size measured is not the one paying for it.
    const warmBody = makeBody(2_000);
    for (let i = 0; i < 2_000; i++) {
      const sender = `warm${i}@example.org`;
      const { mail } = await readInboundMail(message(headerFor(sender), warmBody, sender));
      decide(mail, data);
      if (i % 4 === 0) await receive(message(headerFor(sender), warmBody, sender), env, Date.now());
    }

    const rows: string[] = [];
    for (const [label, size] of SIZES) {
      const body = makeBody(size);
      const header = headerFor("reader@example.org");
      const big = size > 5_000_000;

      const decision = await attributedCpu(
        async () => {
          const { mail } = await readInboundMail(message(header, body, "reader@example.org"));
          decide(mail, data);
        },
        200,
        2000,
      );
      const full = new Uint8Array(header.byteLength + body.byteLength);
      full.set(header);
      full.set(body, header.byteLength);
      const baseline = await attributedCpu(() => PostalMime.parse(full), big ? 1 : 20, big ? 3 : 100);

      const before = { ...counts };
      const handle = async (i: number) => {
        const sender = `bench${i}.${size}@example.org`;
        const { decision: decided } = await receive(message(headerFor(sender), body, sender), env, Date.now());
        if (decided.outcome !== "accepted") throw new Error(`not accepted: ${JSON.stringify(decided)}`);
      };
      const handler = await attributedCpu(handle, big ? 2 : 50, big ? 15 : 300);
      const handled = (big ? 2 : 50) + (big ? 15 : 300);
      const per = (k: keyof typeof counts) => ((counts[k] - before[k]) / handled).toFixed(1);
      const operations = [per("d1Batches"), per("r2Writes")];
      rows.push(
        `| ${label} | ${fmt(decision.ours)} | ${fmt(handler.ours)} | ${fmt(handler.ours + handler.standIns + handler.runtime)} | ${fmt(baseline.ours)} | ${operations.join(" | ")} |`,
      );
    }
    console.log(
      [
        "",
        "Inbound, CPU ms per message (Node 22 / V8; bindings answered in process):",
        "",
        "| size | routing decision | email() handler, our code | handler, all code (stand-ins, Node's streams) | postal-mime full parse (baseline) | D1 batches | R2 writes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        ...rows,
        "",
      ].join("\n"),
    );

    // What the exact loop count costs an accepted message: one more D1 round trip (the claim), whose
    // statement does this much work, here in SQLite (the engine D1 runs) for senders of every size.
    const guardRows: string[] = [];
    for (const entries of [0, 19, 1_000, 10_000]) {
      const sender = `guard${entries}@example.org`;
      const insert = (env.DB as unknown as { sqlite: { prepare(sql: string): { run(...p: unknown[]): void } } }).sqlite.prepare(
        "insert into loop_entries (sender, route_key, delivery, at) values (?, ?, ?, ?)",
      );
      for (let i = 0; i < entries; i++) insert.run(sender, i < 19 ? "alias:als_bench" : `thread:thr_${i}`, `old${i}`, now - 60_000);
      const claim = (i: number) =>
        claimLoopSlots(db, { sender, routeKeys: ["alias:als_bench"], delivery: `new${i}`, threshold: 1_000_000, windowMinutes: 120, allowed: false, now });
      const cost = await attributedCpu(claim, 50, 300);
      guardRows.push(`| ${entries} | ${fmt(cost.ours)} | ${fmt(cost.standIns)} |`);
    }
    console.log(
      [
        "",
        "Sender loop guard, per accepted message: one D1 round trip (count and insert in one statement), CPU ms:",
        "",
        "| the sender's entries in the table | our code | the statement in SQLite (D1's engine) |",
        "| --- | --- | --- |",
        ...guardRows,
        "",
      ].join("\n"),
    );
  });
});
