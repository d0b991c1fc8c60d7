import type { Job } from "./queue/jobs";

/** The Worker's bindings (wrangler.toml) and secrets (`.dev.vars` locally, `wrangler secret` in production). */
export interface Env {
  DB: D1Database;
  /** Raw MIME of accepted mail. */
  RAW: R2Bucket;
  /** Background jobs (ids, never MIME). */
  JOBS: Queue<Job>;
  /** Cloudflare Email Service. */
  EMAIL: SendEmail;
  /** Bearer token for the whole API. */
  ADMIN_TOKEN: string;
  /** Key material for sealing credentials and signing VERP tokens and download links (src/secrets.ts). */
  SECRETS_KEY: string;
  /** Where this Worker answers (https://mail.example.com): the base of the signed links in webhook payloads. */
  PUBLIC_URL?: string;
  /** "true" lets webhooks post to http and to private or loopback addresses: local development only. */
  ALLOW_PRIVATE_WEBHOOKS?: string;
  /** Google's OAuth token endpoint (default https://oauth2.googleapis.com/token); tests point it at a local one. */
  OAUTH_GOOGLE_TOKEN_URL?: string;
  /** Microsoft's (default https://login.microsoftonline.com/common/oauth2/v2.0/token, or the server's tenant). */
  OAUTH_MICROSOFT_TOKEN_URL?: string;
  /** The DNS-over-HTTPS resolver (JSON API) the domain check asks (default https://cloudflare-dns.com/dns-query); tests point it at a local one. */
  DOH_URL?: string;
}
