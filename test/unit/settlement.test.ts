/**
 * Where queued work stands after a run (src/deliveries/settle.ts,
 * src/outbound/settle.ts) and the backoff both use (src/queue/backoff.ts).
 */
import { describe, expect, it } from "vitest";
import { DELIVERY_BACKOFF, RETRY_WINDOW_MS, settleDelivery } from "../../src/deliveries/settle";
import type { DeliveryOutcome } from "../../src/deliveries/types";
import type { RecipientResult } from "../../src/outbound/relays/types";
import { type DispatchRun, SEND_BACKOFF, settleSend } from "../../src/outbound/settle";
import { backoffSeconds } from "../../src/queue/backoff";

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);

describe("backoffSeconds", () => {
  const rows: [attempt: number, schedule: { firstSeconds: number; maxSeconds: number }, seconds: number][] = [
    [0, SEND_BACKOFF, 60],
    [1, SEND_BACKOFF, 60],
    [2, SEND_BACKOFF, 120],
    [5, SEND_BACKOFF, 960],
    [10, SEND_BACKOFF, 6 * 3600],
    [40, SEND_BACKOFF, 6 * 3600],
    [1, DELIVERY_BACKOFF, 30],
    [3, DELIVERY_BACKOFF, 120],
    [12, DELIVERY_BACKOFF, 6 * 3600],
  ];
  it.each(rows)("attempt %i of %o waits %i s", (attempt, schedule, seconds) => {
    expect(backoffSeconds(attempt, schedule)).toBe(seconds);
  });
});

describe("settleDelivery", () => {
  const outcome = (result: DeliveryOutcome["result"]): DeliveryOutcome => ({
    result,
    statusCode: result === "delivered" ? 200 : 500,
    error: result === "delivered" ? null : "HTTP 500",
  });
  const rows: { name: string; age: number; attempts: number; result: DeliveryOutcome["result"]; status: string; retryIn: number | null; error?: string }[] = [
    { name: "delivered", age: 0, attempts: 0, result: "delivered", status: "delivered", retryIn: null },
    { name: "gone (410) is failed, never retried", age: 0, attempts: 2, result: "gone", status: "failed", retryIn: null },
    { name: "failed stays failed", age: 0, attempts: 0, result: "failed", status: "failed", retryIn: null },
    { name: "a first retry after 30 s", age: 0, attempts: 0, result: "retry", status: "pending", retryIn: 30 },
    { name: "the fourth after 4 min", age: 3600_000, attempts: 3, result: "retry", status: "pending", retryIn: 240 },
    { name: "never past the window", age: RETRY_WINDOW_MS - 10_000, attempts: 10, result: "retry", status: "pending", retryIn: 10 },
    {
      name: "at the window's end: failed, saying why",
      age: RETRY_WINDOW_MS,
      attempts: 20,
      result: "retry",
      status: "failed",
      retryIn: null,
      error: "gave up after 24 hours: HTTP 500",
    },
  ];
  it.each(rows)("$name", ({ age, attempts, result, status, retryIn, error }) => {
    const settled = settleDelivery({ createdAt: new Date(NOW - age), attempts }, outcome(result), NOW);
    expect(settled).toMatchObject({ status, retryInSeconds: retryIn, attempts: attempts + 1 });
    if (error) expect(settled.outcome).toMatchObject({ result: "failed", error });
  });
});

describe("settleSend", () => {
  const sent = (address: string): RecipientResult => ({ address, status: "sent", code: "250", message: "ok" });
  const deferred = (address: string): RecipientResult => ({ address, status: "deferred", code: "450", message: "try later" });
  const refused = (address: string, bounce?: RecipientResult["bounce"]): RecipientResult => ({
    address,
    status: "failed",
    code: "550",
    message: "5.1.1 no such user",
    ...(bounce && { bounce }),
  });
  const run = (overrides: Partial<DispatchRun>): DispatchRun => ({
    recipients: ["a@x.test", "b@x.test"],
    outcome: null,
    attempts: [{ relayId: "rly_1", error: null }],
    onlyDailyLimits: false,
    hasCandidates: true,
    attemptCount: 1,
    fromAddress: "me@us.test",
    sentBefore: false,
    now: NOW,
    ...overrides,
  });
  const took = (...recipients: RecipientResult[]) => ({ kind: "sent" as const, providerMessageId: "p-1", recipients });
  const rows: { name: string; run: DispatchRun; status: string; event: string; retry: number | null; refused?: string[] }[] = [
    { name: "every recipient taken: sent", run: run({ outcome: took(sent("a@x.test"), sent("b@x.test")) }), status: "sent", event: "sent", retry: null },
    { name: "one taken, one refused: sent", run: run({ outcome: took(sent("a@x.test"), refused("b@x.test")) }), status: "sent", event: "sent", retry: null },
    { name: "every one refused: failed", run: run({ outcome: took(refused("a@x.test"), refused("b@x.test")) }), status: "failed", event: "failed", retry: null },
    {
      name: "refused now, taken in an earlier run: sent",
      run: run({ recipients: ["b@x.test"], outcome: took(refused("b@x.test")), sentBefore: true }),
      status: "sent",
      event: "sent",
      retry: null,
    },
    {
      name: "one deferred: retried after the backoff",
      run: run({ outcome: took(sent("a@x.test"), deferred("b@x.test")), attemptCount: 3 }),
      status: "queued",
      event: "retry",
      retry: 240,
    },
    { name: "the relay failed: retried", run: run({ attempts: [{ relayId: "rly_1", error: "connection refused" }] }), status: "queued", event: "retry", retry: 60 },
    { name: "only daily limits: the next UTC day", run: run({ attempts: [], onlyDailyLimits: true }), status: "queued", event: "daily_limit", retry: 12 * 3600 + 60 },
    {
      name: "only daily limits just after midnight: within the queue's longest delay",
      run: run({ attempts: [], onlyDailyLimits: true, now: Date.UTC(2026, 10, 30, 0, 0, 1) }),
      status: "queued",
      event: "daily_limit",
      retry: 24 * 3600,
    },
    { name: "no relay may send as the From: retried", run: run({ attempts: [], hasCandidates: false }), status: "queued", event: "retry", retry: 60 },
    {
      name: "a refusal that says the mailbox does not exist counts as a bounce",
      run: run({ outcome: took(sent("a@x.test"), refused("b@x.test", { status: "5.1.1", hard: true })) }),
      status: "sent",
      event: "sent",
      retry: null,
      refused: ["b@x.test"],
    },
  ];
  it.each(rows)("$name", ({ run, status, event, retry, refused }) => {
    const settled = settleSend(run);
    expect(settled).toMatchObject({ status, retryAfterSeconds: retry, event: { type: event } });
    expect(settled.refused.map((r) => r.address)).toEqual(refused ?? []);
  });

  it("says why nothing was tried when no relay may send as the From", () => {
    expect(settleSend(run({ attempts: [], hasCandidates: false })).event.detail).toMatchObject({
      reason: "no enabled relay may send as me@us.test",
      pending: ["a@x.test", "b@x.test"],
    });
  });
});
