/**
 * `npm run bench`, the parts that need workerd: SMTP round trips per
 * message against a real SMTP server on loopback, with and without
 * PIPELINING, and queue consumer throughput through the Cloudflare relay
 * (the local send_email binding). Round trips are counted, not timed.
 */
import { describe, inject, it } from "vitest";
import { compose } from "../../src/outbound/compose";
import { SmtpClient } from "../../src/outbound/relays/smtp-client";
import { api, ok, onlyRelays, runSendJobs, setupDomain } from "../../test/helpers";

const mail = inject("mail");

const raw = new TextEncoder().encode(
  compose({
    from: { name: "Bench", address: "bench@bench.example" },
    to: [{ name: "", address: "one@example.org" }],
    cc: [{ name: "", address: "two@example.org" }],
    replyTo: null,
    subject: "Round trips",
    text: "Hello\n".repeat(200),
    html: null,
    attachments: [],
    headers: {},
    messageId: "<bench@bench.example>",
    inReplyTo: null,
    references: [],
    date: new Date(),
  }),
);

describe("outbound benchmark (workerd)", () => {
  it("prints SMTP round trips and queue throughput", { timeout: 300_000 }, async () => {
    const rows: string[] = [];
    for (const [server, label] of [
      ["plain", "with PIPELINING"],
      ["nopipelining", "without PIPELINING"],
    ] as const) {
      const client = await SmtpClient.connect({ host: "127.0.0.1", port: mail.smtp[server]!, security: "none", helo: "bench.example" });
      const opening = client.roundTrips;
      const messages = 20;
      for (let i = 0; i < messages; i++) await client.send("bounce@bench.example", ["one@example.org", "two@example.org"], raw);
      const perMessage = (client.roundTrips - opening) / messages;
      await client.quit();
      rows.push(`| ${label} | ${opening} | ${perMessage} |`);
    }

    const domain = await setupDomain();
    await onlyRelays([{ name: "cloudflare", type: "cloudflare", from_filter: domain }]);
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const sent = await api("POST", "/v1/messages", { from: `bench@${domain}`, to: [`reader${i}@example.org`], subject: `Throughput ${i}`, text: "Hello" });
      ids.push(sent.body.id);
    }
    const start = performance.now();
    for (let i = 0; i < ids.length; i += 10) await runSendJobs(ids.slice(i, i + 10));
    const seconds = (performance.now() - start) / 1000;
    const sent = (await ok("GET", "/v1/messages?direction=out&status=sent&limit=200")).items.length;
    console.log(
      [
        "",
        "SMTP round trips (test SMTP server on loopback, 2 recipients per message):",
        "",
        "| server | to open the session (greeting, EHLO) | per message in the open session |",
        "| --- | --- | --- |",
        ...rows,
        "",
        `Queue consumer through the Cloudflare relay (local send_email binding, batches of 10): ${sent} messages in ${seconds.toFixed(2)} s = ${(sent / seconds).toFixed(0)} messages/s`,
        "",
      ].join("\n"),
    );
  });
});
