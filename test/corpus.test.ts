/**
 * Robustness over third-party mail (../shared/corpus): real bounces, broken
 * MIME, CRLF, LF and bare-CR line ends, mbox files, empty files. Every
 * message goes through `email()` twice, to an alias and to an address
 * nothing routes, and must get a definite outcome each time (accepted,
 * refused or dropped), never a crash, a hang or a temporary failure.
 */
import { describe, expect, inject, it } from "vitest";
import { createAlias, deliver, ok, setupDomain, smtpOutcome } from "./helpers";

const { url, files } = inject("corpus");
const groups = new Map<string, string[]>();
for (const file of files) {
  const group = file.split("/").slice(0, -1).join("/");
  groups.set(group, [...(groups.get(group) ?? []), file]);
}

/** Decision reasons of every message recorded for recipients at `domain`. */
async function reasonsAt(domain: string): Promise<Record<string, number>> {
  const tally: Record<string, number> = {};
  let cursor: string | null = null;
  do {
    const page: { items: any[]; next_cursor: string | null } = await ok("GET", `/v1/messages?limit=200${cursor ? `&cursor=${cursor}` : ""}`);
    for (const m of page.items) {
      if (!m.rcpt_to.endsWith(`@${domain}`)) continue;
      const key = `${m.decision.outcome}/${m.decision.reason}`;
      tally[key] = (tally[key] ?? 0) + 1;
      if (m.status !== "accepted") continue;
      // The same Message-ID delivered again to the same recipient is noted on the first record.
      const detail = await ok("GET", `/v1/messages/${m.id}`);
      const redelivered = detail.events.filter((e: any) => e.type === "redelivered").length;
      if (redelivered) tally["dropped/duplicate (same delivery)"] = (tally["dropped/duplicate (same delivery)"] ?? 0) + redelivered;
    }
    cursor = page.next_cursor;
  } while (cursor);
  return tally;
}

describe("third-party corpus through email()", () => {
  it("is present", () => {
    expect(files.length).toBeGreaterThan(700);
  });

  for (const [group, members] of groups) {
    it(`${group} (${members.length} messages)`, { timeout: 300_000 }, async () => {
      await ok("PUT", "/v1/settings", { loop_threshold: 100_000 });
      const domain = await setupDomain();
      await createAlias({ name: "support", domain, destinations: [{ type: "store" }, { type: "forward", to: "owner@mailbox.example" }] });
      for (const file of members) {
        const response = await fetch(`${url}/${encodeURIComponent(file)}`);
        expect(response.status, file).toBe(200);
        const raw = new Uint8Array(await response.arrayBuffer());
        for (const to of [`support@${domain}`, `nobody@${domain}`]) {
          const result = await deliver({ from: "sender@corpus.example", to, raw, chunkSize: 4096 });
          expect(result.error, `${file} to ${to}: ${String(result.error)}`).toBeNull();
          // A refusal tells the sending server why; a forward goes out at most once, to the alias's destination, for mail it accepted.
          if (smtpOutcome(result) === "rejected") expect(result.rejected, `${file} to ${to}`).toMatch(/\S/);
          const forwarded = to.startsWith("support@") && smtpOutcome(result) === "accepted" && result.forwards.length > 0;
          expect(
            result.forwards.map((f) => f.to),
            `${file} to ${to}`,
          ).toEqual(forwarded ? ["owner@mailbox.example"] : []);
        }
      }
      const reasons = await reasonsAt(domain);
      // Every delivery left a record (or a note on the record of the same delivery).
      expect(Object.values(reasons).reduce((a, b) => a + b, 0)).toBe(members.length * 2);
      console.log(`${group}: ${JSON.stringify(reasons)}`);
    });
  }
});
