/**
 * `npm run bench`, send API part (Node 22 / V8, bindings answered in
 * process, see bench/bindings.ts). CPU per POST /v1/messages: JSON and zod
 * validation, relay choice, From rewrite, composition with mimetext, and
 * storing; our code only (the CPU spent inside the SQLite stand-in is
 * taken out). Also composition alone.
 */
import { describe, it } from "vitest";
import { createApp } from "../src/api/app";
import { systemClock } from "../src/clock";
import { compose } from "../src/outbound/compose";
import { standInEnv } from "./bindings";
import { attributedCpu, fmt } from "./measure";

const TEXT = "Dear customer,\n\nYour order has shipped and should arrive within three working days.\n".repeat(120);

function attachmentOf(bytes: number): string {
  const chunk = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0";
  return chunk.repeat(Math.ceil((bytes * 4) / 3 / chunk.length)).slice(0, Math.ceil((bytes * 4) / 3 / 4) * 4);
}

describe("send benchmark", () => {
  it("prints CPU per send request", { timeout: 600_000 }, async () => {
    const { env, counts } = standInEnv();
    const app = createApp(systemClock);
    const now = Date.now();
    (env.DB as unknown as { sqlite: { exec(sql: string): void } }).sqlite.exec(
      `insert into domains (name, company_name, created_at, updated_at) values ('bench.example', 'Bench', ${now}, ${now});` +
        `insert into relays (id, name, type, from_filter, config, created_at, updated_at) values ('rly_bench', 'bench', 'smtp', 'bench.example', '{"host":"127.0.0.1","port":2525,"security":"none","max_size":52428800}', ${now}, ${now});`,
    );
    const cases: [string, Record<string, unknown>][] = [
      ["10 KB text + html", { text: TEXT, html: `<p>${TEXT.replace(/\n/g, "<br>")}</p>` }],
      ["5 MiB attachment", { text: "See attached.", attachments: [{ filename: "report.pdf", content: attachmentOf(5 * 1024 * 1024), content_type: "application/pdf" }] }],
    ];
    const rows: string[] = [];
    for (const [label, content] of cases) {
      const body = (i: number) =>
        JSON.stringify({
          from: '"Mary Major" <mary@bench.example>',
          to: [`customer${i}@example.org`],
          cc: ["copy@example.org"],
          subject: `Order ${i}`,
          headers: { "X-Campaign": "bench" },
          ...content,
        });
      const small = label.startsWith("10");
      const before = { ...counts };
      const post = async (i: number) => {
        const response = await app.fetch(
          new Request("https://bench/v1/messages", { method: "POST", headers: { Authorization: "Bearer bench", "Content-Type": "application/json" }, body: body(i) }),
          env,
        );
        if (response.status !== 202) throw new Error(`${response.status} ${await response.text()}`);
      };
      const request = await attributedCpu(post, small ? 500 : 5, small ? 2000 : 20);
      const calls = counts.queueSends - before.queueSends;
      const payload = JSON.parse(body(0)) as { text?: string; html?: string; attachments?: { filename: string; content: string; content_type: string }[] };
      const composeOnly = await attributedCpu(
        async () =>
          compose({
            from: { name: "Mary Major", address: "mary@bench.example" },
            to: [{ name: "", address: "customer@example.org" }],
            cc: [],
            replyTo: { name: "Bench", address: "catchall@bench.example" },
            subject: "Order",
            text: payload.text ?? null,
            html: payload.html ?? null,
            attachments: (payload.attachments ?? []).map((a) => ({ filename: a.filename, content: a.content, contentType: a.content_type })),
            headers: {},
            messageId: "<msg_bench@bench.example>",
            inReplyTo: null,
            references: [],
            date: new Date(),
          }),
        small ? 200 : 3,
        small ? 2000 : 20,
      );
      rows.push(
        `| ${label} | ${fmt(request.ours)} | ${fmt(composeOnly.ours)} | ${fmt(request.ours + request.standIns + request.runtime)} | ${((counts.d1Batches - before.d1Batches) / calls).toFixed(1)} |`,
      );
    }
    console.log(
      [
        "",
        "Send API, CPU ms per request (Node 22 / V8; bindings answered in process):",
        "",
        "| message | POST /v1/messages, our code (validate, choose relay, compose, store) | of which composing | all code, stand-ins included | D1 batches |",
        "| --- | --- | --- | --- | --- |",
        ...rows,
        "",
      ].join("\n"),
    );
  });
});
