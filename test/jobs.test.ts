/** The queue consumer through the Worker's `queue()` entry point. */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import worker from "../src/index";
import type { Job } from "../src/queue/jobs";

it("retries a job it has no consumer for, so the dead-letter queue keeps it", async () => {
  const batch = createMessageBatch("mailgate-jobs", [{ id: "job-1", timestamp: Date.now(), attempts: 1, body: { kind: "unknown" } as unknown as Job }]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  const result = await getQueueResult(batch, ctx);
  expect(result.retryMessages).toEqual([{ msgId: "job-1" }]);
  expect(result.explicitAcks).toEqual([]);
});
