/**
 * The decision's one schema (src/decision.ts): a row the contract does not
 * describe is refused when read (test/api.test.ts checks that every variant
 * shows in the OpenAPI document).
 */
import { describe, expect, it } from "vitest";
import { StoredDecisionSchema } from "../../src/decision";

describe("the Decision contract", () => {
  const rows: { name: string; decision: unknown; valid: boolean }[] = [
    { name: "a refusal", decision: { outcome: "refused", reason: "no_route", recipient: "x@example.com" }, valid: true },
    { name: "a refusal with a field it does not have", decision: { outcome: "refused", reason: "no_route", recipient: "x@example.com", extra: 1 }, valid: false },
    { name: "a refusal under the wrong outcome", decision: { outcome: "accepted", reason: "no_route", recipient: "x@example.com" }, valid: false },
    { name: "an unknown reason", decision: { outcome: "dropped", reason: "mystery" }, valid: false },
    {
      name: "a send",
      decision: {
        outcome: "accepted",
        reason: "send",
        relay_id: "rly_1",
        selection: "domain",
        from_rewrite: "none",
        author: { name: "", address: "a@example.com" },
        bounce_address: null,
      },
      valid: true,
    },
    { name: "a send without its relay", decision: { outcome: "accepted", reason: "send", selection: "domain" }, valid: false },
  ];
  it.each(rows)("$name: valid $valid", ({ decision, valid }) => {
    expect(StoredDecisionSchema.safeParse(decision).success).toBe(valid);
  });
});
