/**
 * The round-trip budget of one message, counted on the real local bindings:
 * one D1 batch to decide, one to count the sender into the loop guard
 * (accepted mail only), one to record, one R2 write for the raw mail (plus
 * one batch for forward results).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import { createAlias, deliver, mime, setupDomain, smtpOutcome, withBinding } from "./helpers";

interface Tally {
  d1: number;
  r2Writes: number;
}

/** Counts every call that leaves the Worker: D1 batches and single statements, and R2 writes; any other D1 or R2 call fails. */
function counting(): { env: Env; tally: Tally } {
  const tally: Tally = { d1: 0, r2Writes: 0 };
  const countStatement = (statement: D1PreparedStatement): D1PreparedStatement => {
    const bind = statement.bind.bind(statement);
    const counting =
      <A extends unknown[], R>(method: (...args: A) => R) =>
      (...args: A): R => {
        tally.d1++;
        return method.apply(statement, args);
      };
    return Object.assign(statement, {
      bind: (...values: unknown[]) => countStatement(bind(...values)),
      all: counting(statement.all),
      run: counting(statement.run),
      raw: counting(statement.raw as (...args: unknown[]) => unknown),
      first: counting(statement.first as (...args: unknown[]) => unknown),
    }) as D1PreparedStatement;
  };
  const d1 = withBinding(
    env,
    "DB",
    {
      prepare: (real, query: string) => countStatement(real(query)),
      batch: (real, statements) => {
        tally.d1++;
        return real(statements);
      },
    },
    { only: true },
  );
  const counted = withBinding(
    d1,
    "RAW",
    {
      put: (real, ...args) => {
        tally.r2Writes++;
        return real(...args);
      },
    },
    { only: true },
  );
  return { env: counted, tally };
}

describe("operations per message", () => {
  it("new mail to an alias: 3 D1 round trips (decide, loop guard, record), 1 R2 write", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "sales", domain });
    const { env: counted, tally } = counting();
    const result = await deliver({ to: `sales@${domain}`, raw: mime({ From: "mary@customer.example", To: `sales@${domain}` }) }, { env: counted });
    expect(smtpOutcome(result)).toBe("accepted");
    expect(tally).toEqual({ d1: 3, r2Writes: 1 });
  });

  it("a refusal: 2 D1 round trips, no R2 write", async () => {
    const domain = await setupDomain();
    const { env: counted, tally } = counting();
    const result = await deliver({ to: `nobody@${domain}`, raw: mime({ From: "mary@customer.example", To: `nobody@${domain}` }) }, { env: counted });
    expect(smtpOutcome(result)).toBe("rejected");
    expect(tally).toEqual({ d1: 2, r2Writes: 0 });
  });

  it("a forward adds one D1 round trip for its result", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "team", domain, destinations: [{ type: "forward", to: "owner@mailbox.example" }] });
    const { env: counted, tally } = counting();
    const result = await deliver({ to: `team@${domain}`, raw: mime({ From: "mary@customer.example", To: `team@${domain}` }) }, { env: counted });
    expect(result.forwards).toHaveLength(1);
    expect(tally).toEqual({ d1: 4, r2Writes: 1 });
  });
});
