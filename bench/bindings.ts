/**
 * In-process stand-ins for D1 and R2, for measuring the CPU our own code
 * spends per message in Node (V8, the engine workerd runs). They answer at
 * once, so the process's CPU time is our code's plus theirs, and they count
 * the operations a message costs. The tests use the real local bindings;
 * these exist only so the benchmark can time our code without a runtime
 * between it and the clock.
 */
import { timingSafeEqual as nodeTimingSafeEqual } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Env } from "../src/env";

export interface Counts {
  d1Batches: number;
  d1Queries: number;
  r2Writes: number;
  queueSends: number;
}

type Param = string | number | null | Uint8Array;

/** D1's API over node:sqlite: prepare/bind/all/raw/run/first and batch (one transaction). */
class Statement {
  constructor(
    private readonly db: Sqlite,
    readonly sql: string,
    readonly params: Param[] = [],
  ) {}
  bind(...params: unknown[]) {
    return new Statement(
      this.db,
      this.sql,
      params.map((p) => (typeof p === "boolean" ? Number(p) : (p as Param))),
    );
  }
  private statement(): StatementSync {
    return this.db.sqlite.prepare(this.sql);
  }
  objects() {
    return this.statement().all(...this.params) as Record<string, unknown>[];
  }
  async all() {
    this.db.counts.d1Queries++;
    return { results: this.objects(), success: true, meta: {} };
  }
  async raw() {
    this.db.counts.d1Queries++;
    const statement = this.statement();
    statement.setReturnArrays(true);
    return statement.all(...this.params) as unknown as unknown[][];
  }
  async run() {
    this.db.counts.d1Queries++;
    const result = this.statement().run(...this.params);
    return { results: [], success: true, meta: { changes: Number(result.changes) } };
  }
  async first() {
    return (await this.all()).results[0] ?? null;
  }
}

class Sqlite {
  readonly sqlite = new DatabaseSync(":memory:");
  constructor(readonly counts: Counts) {
    const dir = new URL("../migrations/", import.meta.url);
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith(".sql"))
      .sort()) {
      this.sqlite.exec(readFileSync(new URL(file, dir), "utf8").replaceAll("--> statement-breakpoint", ""));
    }
  }
  prepare(sql: string) {
    return new Statement(this, sql);
  }
  async batch(statements: Statement[]) {
    this.counts.d1Batches++;
    this.sqlite.exec("BEGIN");
    try {
      const results = statements.map((s) => ({ results: s.objects(), success: true, meta: {} }));
      this.sqlite.exec("COMMIT");
      return results;
    } catch (error) {
      this.sqlite.exec("ROLLBACK");
      throw error;
    }
  }
}

/** workerd's FixedLengthStream, for Node: passes chunks through and checks the total. */
class FixedLengthStreamPolyfill extends TransformStream<Uint8Array, Uint8Array> {
  constructor(expected: number) {
    let seen = 0;
    super({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        controller.enqueue(chunk);
      },
      flush(controller) {
        if (seen !== expected) controller.error(new Error(`expected ${expected} bytes, got ${seen}`));
      },
    });
  }
}
(globalThis as Record<string, unknown>).FixedLengthStream ??= FixedLengthStreamPolyfill;

/** workerd's non-standard `crypto.subtle.timingSafeEqual`, for Node. */
const subtle = crypto.subtle as SubtleCrypto & { timingSafeEqual?: (a: ArrayBuffer | ArrayBufferView, b: ArrayBuffer | ArrayBufferView) => boolean };
subtle.timingSafeEqual ??= (a, b) => {
  const bytes = (v: ArrayBuffer | ArrayBufferView) => (ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v));
  return nodeTimingSafeEqual(bytes(a), bytes(b));
};

export function standInEnv(): { env: Env; counts: Counts } {
  const counts: Counts = { d1Batches: 0, d1Queries: 0, r2Writes: 0, queueSends: 0 };
  const objects = new Map<string, number>();
  const env = {
    DB: new Sqlite(counts),
    RAW: {
      async put(key: string, body: ReadableStream<Uint8Array> | Uint8Array | string) {
        counts.r2Writes++;
        let size = 0;
        if (body instanceof ReadableStream) for await (const chunk of body) size += chunk.byteLength;
        else size = typeof body === "string" ? body.length : body.byteLength;
        objects.set(key, size);
        return { key, size };
      },
      async delete(key: string) {
        objects.delete(key);
      },
    },
    JOBS: {
      async send() {
        counts.queueSends++;
      },
      async sendBatch(messages: unknown[]) {
        counts.queueSends += messages.length;
      },
    },
    ADMIN_TOKEN: "bench",
    SECRETS_KEY: "bench-secrets-key",
  } as unknown as Env;
  return { env, counts };
}
