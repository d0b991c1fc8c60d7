/** The Worker's bindings (wrangler.toml) and secrets (`.dev.vars` locally, `wrangler secret` in production). */
export interface Env {
  DB: D1Database;
  /** Sender loop counters. */
  LOOP_KV: KVNamespace;
  /** Raw MIME of accepted mail. */
  RAW: R2Bucket;
  /** Bearer token for the whole API. */
  ADMIN_TOKEN: string;
}
