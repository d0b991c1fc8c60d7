/**
 * The round-trip budget of one message, counted on the real local bindings:
 * one D1 batch to decide, one to count the sender into the loop guard
 * (accepted mail only), one to record, one R2 write for the raw mail (plus
 * one batch for forward results).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import { createAlias, deliver, mime, setupDomain, smtpOutcome } from "./helpers";

interface Tally {
  d1: number;
  r2Writes: number;
}

/** Counts every call that leaves the Worker: D1 batches and single statements, KV and R2 operations. */
function counting(): { env: Env; tally: Tally } {
  const tally: Tally = { d1: 0, r2Writes: 0 };
  const countStatement = (statement: D1PreparedStatement): D1PreparedStatement => {
    const original = { bind: statement.bind, all: statement.all, run: statement.run, raw: statement.raw, first: statement.first };
    return Object.assign(statement, {
      bind: (...values: unknown[]) => countStatement(original.bind.apply(statement, values)),
      all: () => (tally.d1++, original.all.apply(statement)),
      run: () => (tally.d1++, original.run.apply(statement)),
      raw: (...options: unknown[]) => (tally.d1++, (original.raw as Function).apply(statement, options)),
      first: (...column: unknown[]) => (tally.d1++, (original.first as Function).apply(statement, column)),
    }) as D1PreparedStatement;
  };
  const db = {
    prepare: (query: string) => countStatement(env.DB.prepare(query)),
    batch: (statements: D1PreparedStatement[]) => (tally.d1++, env.DB.batch(statements)),
  } as unknown as D1Database;
  const r2 = { put: (...args: unknown[]) => (tally.r2Writes++, (env.RAW.put as Function)(...args)) } as unknown as R2Bucket;
  return { env: { ...env, DB: db, RAW: r2 }, tally };
}

describe("operations per message", () => {
  it("new mail to an alias: 3 D1 round trips (decide, loop guard, record), 1 R2 write", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "sales", domain });
    const { env: counted, tally } = counting();
    const result = await deliver({ to: `sales@${domain}`, raw: mime({ From: "mary@customer.example", To: `sales@${domain}` }) }, counted);
    expect(smtpOutcome(result)).toBe("accepted");
    expect(tally).toEqual({ d1: 3, r2Writes: 1 });
  });

  it("a refusal: 2 D1 round trips, no R2 write", async () => {
    const domain = await setupDomain();
    const { env: counted, tally } = counting();
    const result = await deliver({ to: `nobody@${domain}`, raw: mime({ From: "mary@customer.example", To: `nobody@${domain}` }) }, counted);
    expect(smtpOutcome(result)).toBe("rejected");
    expect(tally).toEqual({ d1: 2, r2Writes: 0 });
  });

  it("a forward adds one D1 round trip for its result", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "team", domain, destinations: [{ type: "forward", to: "owner@mailbox.example" }] });
    const { env: counted, tally } = counting();
    const result = await deliver({ to: `team@${domain}`, raw: mime({ From: "mary@customer.example", To: `team@${domain}` }) }, counted);
    expect(result.forwards).toHaveLength(1);
    expect(tally).toEqual({ d1: 4, r2Writes: 1 });
  });
});
