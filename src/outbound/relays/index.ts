/**
 * The factory that turns a stored relay (settings plus sealed credentials)
 * into a `Relay`; what the settings mean is in ./settings.ts.
 */

import type { Db } from "../../db/client";
import { allowsPrivateTargets, checkWebhookUrl } from "../../deliveries/webhook-url";
import type { Env } from "../../env";
import { OAuthSettings } from "../../oauth";
import { unseal } from "../../secrets";
import { cloudflareRelay } from "./cloudflare";
import { mailgunRelay } from "./mailgun";
import { postmarkRelay } from "./postmark";
import { resendRelay } from "./resend";
import { sendgridRelay } from "./sendgrid";
import { sesRelay } from "./ses";
import type { RelayRow } from "./settings";
import { relayOAuth, smtpRelay } from "./smtp";
import type { SmtpSecurity } from "./smtp-client";
import { type OutgoingMessage, type ProbeResult, type Relay, RelayError, type SendOutcome } from "./types";

/** What a relay may need besides its settings: the database (OAuth tokens are cached there) and the run's clock. */
export interface RelayContext {
  db: Db;
  now: number;
}

const text = (value: unknown, fallback = ""): string => (typeof value === "string" ? value : fallback);
const optional = (value: unknown): string | null => (typeof value === "string" && value ? value : null);
const parseJson = (value: string): unknown => {
  try {
    return JSON.parse(value);
  } catch {
    return null;
  }
};

/** Builds the relay; `helo` is the EHLO name SMTP relays use unless configured; `context` serves OAuth (SMTP relays with `oauth`). */
export async function instantiate(row: RelayRow, env: Env, helo: string, context: RelayContext): Promise<Relay> {
  const config = row.config;
  // Checked when the relay was saved, and again here: a provider's API address is never private or plain http.
  if (typeof config.base_url === "string") {
    const checked = checkWebhookUrl(config.base_url, allowsPrivateTargets(env));
    if (!checked.ok) throw new RelayError(`config.base_url: the URL ${checked.reason}`, "config");
  }
  const secrets = row.secrets ? await unseal(env.SECRETS_KEY, row.secrets) : {};
  switch (row.type) {
    case "cloudflare":
      return cloudflareRelay(env.EMAIL);
    case "smtp": {
      const username = optional(config.username);
      const oauth = secrets.oauth ? OAuthSettings.safeParse(parseJson(secrets.oauth)) : null;
      if (oauth && !oauth.success) throw new RelayError("config.oauth: the stored OAuth settings are not valid: set them again", "config");
      return smtpRelay({
        host: text(config.host),
        port: Number(config.port),
        security: text(config.security, "starttls") as SmtpSecurity,
        ...(username &&
          (oauth?.success ? { username, oauth: relayOAuth(env, context.db, row.id, username, oauth.data, context.now) } : { username, password: secrets.password ?? "" })),
        helo: optional(config.helo) ?? helo,
        ...(typeof config.timeout_ms === "number" && { timeoutMs: config.timeout_ms }),
      });
    }
    case "postmark":
      return postmarkRelay({
        serverToken: secrets.server_token ?? "",
        messageStream: optional(config.message_stream),
        baseUrl: text(config.base_url, "https://api.postmarkapp.com"),
      });
    case "resend":
      return resendRelay({ apiKey: secrets.api_key ?? "", baseUrl: text(config.base_url, "https://api.resend.com") });
    case "ses":
      return sesRelay({
        region: text(config.region),
        accessKeyId: text(config.access_key_id),
        secretAccessKey: secrets.secret_access_key ?? "",
        sessionToken: secrets.session_token ?? null,
        configurationSet: optional(config.configuration_set),
        baseUrl: text(config.base_url, `https://email.${text(config.region)}.amazonaws.com`),
      });
    case "mailgun":
      return mailgunRelay({
        domain: text(config.domain),
        apiKey: secrets.api_key ?? "",
        baseUrl: text(config.base_url, config.region === "eu" ? "https://api.eu.mailgun.net" : "https://api.mailgun.net"),
      });
    case "sendgrid":
      return sendgridRelay({ apiKey: secrets.api_key ?? "", baseUrl: text(config.base_url, "https://api.sendgrid.com") });
  }
}

/** Every credential value a relay holds (the OAuth settings' too), for `scrub`. */
async function credentialsOf(row: RelayRow, env: Env): Promise<string[]> {
  const sealed = row.secrets ? await unseal(env.SECRETS_KEY, row.secrets) : {};
  return Object.values(sealed).flatMap((value) => {
    const parsed = parseJson(value);
    return parsed && typeof parsed === "object" ? [value, ...Object.values(parsed).filter((v): v is string => typeof v === "string")] : [value];
  });
}

/**
 * Text for the operator with any credential the relay holds replaced by
 * `[hidden]`: what a relay says is built never to hold one, and this makes
 * sure even a server or provider echoing one does not show it. Values
 * shorter than 6 characters are left alone (they would hide ordinary words).
 */
function scrub(text: string, credentials: string[]): string {
  return credentials.filter((c) => c.length >= 6).reduce((out, credential) => out.split(credential).join("[hidden]"), text);
}

/**
 * Tests a stored relay, enabled or not (POST /v1/relays/{id}/test): its
 * `probe()`, with a configuration it cannot be built from as a failure, and
 * every credential scrubbed from what comes back.
 */
export async function probeRelay(row: RelayRow, env: Env, helo: string, context: RelayContext): Promise<ProbeResult> {
  const credentials = await credentialsOf(row, env);
  let result: ProbeResult;
  try {
    result = await (await instantiate(row, env, helo, context)).probe();
  } catch (error) {
    if (!(error instanceof RelayError)) throw error;
    result = { ok: false, error: error.message, code: error.code };
  }
  if (result.ok) return { ok: true, answer: scrub(result.answer, credentials) };
  return { ...result, error: scrub(result.error, credentials), ...(result.answer !== undefined && { answer: scrub(result.answer, credentials) }) };
}

/**
 * Sends one message through this relay now, outside the queue (a relay's
 * test message): one session, opened, used once and closed. A relay that
 * cannot be built, reached or logged in to is a `relay_error` outcome,
 * with every credential scrubbed from its text.
 */
export async function sendThrough(row: RelayRow, env: Env, helo: string, context: RelayContext, message: OutgoingMessage): Promise<SendOutcome> {
  const credentials = await credentialsOf(row, env);
  let outcome: SendOutcome;
  try {
    const session = await (await instantiate(row, env, helo, context)).open();
    try {
      outcome = await session.send(message);
    } finally {
      await session.close().catch(() => {});
    }
  } catch (error) {
    if (!(error instanceof RelayError)) throw error;
    outcome = { kind: "relay_error", code: error.code, message: error.message };
  }
  if (outcome.kind === "relay_error") return { ...outcome, message: scrub(outcome.message, credentials) };
  return { ...outcome, recipients: outcome.recipients.map((r) => ({ ...r, message: r.message === null ? null : scrub(r.message, credentials) })) };
}
