/**
 * Fault injection: the real local bindings, with one operation made to fail
 * as an outage would. The handler must throw (a temporary SMTP failure, so
 * the sender retries), and the retry after recovery must deliver exactly
 * once: one message, one thread, one forward.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import { createAlias, deliver, findMessage, messageIdOf, messagesFor, mime, ok, setupDomain, smtpOutcome, withBinding, withSettings } from "./helpers";

/** `env` with `binding.method` failing on its `nth` call (1-based), like an outage would. */
function withFault(binding: "DB" | "RAW", method: string, nth = 1): Env {
  let calls = 0;
  return withBinding(env, binding, {
    [method]: (real, ...args) => {
      calls += 1;
      if (calls === nth) throw new Error(`${binding}.${method}: simulated outage (network connection lost)`);
      return real(...args);
    },
  });
}

const faults: [string, () => Env][] = [
  ["D1 while deciding", () => withFault("DB", "batch", 1)],
  ["D1 while counting into the loop guard", () => withFault("DB", "batch", 2)],
  ["D1 while recording", () => withFault("DB", "batch", 3)],
  ["R2 while storing the raw mail", () => withFault("RAW", "put")],
];

describe("with a binding failing", () => {
  for (const [what, faultyEnv] of faults) {
    it(`${what}: the handler throws, and the retry delivers exactly once`, async () => {
      const domain = await setupDomain();
      const alias = await createAlias({ name: "team", domain, destinations: [{ type: "store" }, { type: "forward", to: "owner@mailbox.example" }] });
      const raw = mime({ From: "mary@customer.example", To: `team@${domain}` });

      const failed = await deliver({ to: `team@${domain}`, raw }, { env: faultyEnv() });
      expect(smtpOutcome(failed)).toBe("temporary_failure");
      expect(String(failed.error)).toContain("simulated outage");
      expect(failed.forwards).toEqual([]);
      expect(await messagesFor(messageIdOf(raw))).toEqual([]);

      const retried = await deliver({ to: `team@${domain}`, raw });
      expect(smtpOutcome(retried)).toBe("accepted");
      expect(retried.forwards.map((f) => f.to)).toEqual(["owner@mailbox.example"]);

      const again = await deliver({ to: `team@${domain}`, raw });
      expect(again.forwards).toEqual([]);

      expect(await messagesFor(messageIdOf(raw))).toHaveLength(1);
      const message = await findMessage(messageIdOf(raw));
      expect(message.has_raw).toBe(true);
      expect(message.deliveries.map((d: any) => d.status)).toEqual(["delivered", "delivered"]);
      expect((await ok("GET", `/v1/threads?alias_id=${alias.id}`)).items).toHaveLength(1);
    });
  }

  it("D1 failing after a forward went out: no throw, so the sender does not send it again", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "team", domain, destinations: [{ type: "forward", to: "owner@mailbox.example" }] });
    const raw = mime({ From: "mary@customer.example", To: `team@${domain}` });
    const result = await deliver({ to: `team@${domain}`, raw }, { env: withFault("DB", "batch", 4) });
    expect(smtpOutcome(result)).toBe("accepted");
    expect(result.forwards).toHaveLength(1);
    // The result could not be written: the delivery still reads pending.
    expect((await findMessage(messageIdOf(raw))).deliveries).toMatchObject([{ type: "forward", status: "pending" }]);
  });

  it("two deliveries of one message racing for the same routes: each route is taken once", async () => {
    const domain = await setupDomain();
    const sales = await createAlias({ name: "sales", domain });
    const support = await createAlias({ name: "support", domain });
    const raw = mime({ From: "mary@customer.example", To: `sales@${domain}`, Cc: `support@${domain}` });

    // Both deliveries read before either writes: their first D1 batches wait for each other.
    let arrived = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    const racing = withBinding(env, "DB", {
      batch: async (real, ...args) => {
        const result = await real(...args);
        if (++arrived <= 2) {
          if (arrived === 2) release();
          await bothRead;
        }
        return result;
      },
    });
    const results = await Promise.all([deliver({ to: `sales@${domain}`, raw }, { env: racing }), deliver({ to: `support@${domain}`, raw }, { env: racing })]);
    expect(results.map(smtpOutcome)).toEqual(["accepted", "accepted"]);

    const rows = await messagesFor(messageIdOf(raw));
    expect(rows.map((r: any) => r.decision.reason).sort()).toEqual(["duplicate", "routed"]);
    const routed = rows.find((r: any) => r.decision.reason === "routed");
    expect(routed.decision.routes.map((r: any) => r.alias_id).sort()).toEqual([sales.id, support.id].sort());
    expect((await ok("GET", `/v1/threads?alias_id=${sales.id}`)).items).toHaveLength(1);
    expect((await ok("GET", `/v1/threads?alias_id=${support.id}`)).items).toHaveLength(1);
  });

  it("a concurrent message of the sender takes the last loop-guard slot after our lookup: this one is refused", async () => {
    await withSettings({ loop_threshold: 2 }, async () => {
      const domain = await setupDomain();
      await createAlias({ name: "support", domain });
      const sender = "bot@robots.example";
      const first = mime({ From: sender, To: `support@${domain}` });
      expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw: first }))).toBe("accepted");

      // Between this delivery's lookup (count 1 of 2) and its claim, another message of the sender gets in.
      let batches = 0;
      const racing = withBinding(env, "DB", {
        batch: async (real, ...args) => {
          if (++batches === 2) {
            const concurrent = mime({ From: sender, To: `support@${domain}` });
            expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw: concurrent }))).toBe("accepted");
          }
          return real(...args);
        },
      });
      const raced = mime({ From: sender, To: `support@${domain}` });
      const result = await deliver({ to: `support@${domain}`, raw: raced }, { env: racing });
      expect(smtpOutcome(result)).toBe("rejected");
      const message = await findMessage(messageIdOf(raced));
      expect(message.decision).toMatchObject({ reason: "sender_loop", count: 2 });
      expect(message.has_raw).toBe(false);
    });
  });

  it("a retry after our failure is not held back by its own first attempt's loop-guard entry", async () => {
    await withSettings({ loop_threshold: 1 }, async () => {
      const domain = await setupDomain();
      await createAlias({ name: "support", domain });
      const raw = mime({ From: "once@robots.example", To: `support@${domain}` });
      // Counted into the loop guard, then the record fails.
      expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw }, { env: withFault("DB", "batch", 3) }))).toBe("temporary_failure");
      expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw }))).toBe("accepted");
      // The next message of the sender is over the threshold of 1.
      const next = mime({ From: "once@robots.example", To: `support@${domain}` });
      expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw: next }))).toBe("rejected");
    });
  });
});
