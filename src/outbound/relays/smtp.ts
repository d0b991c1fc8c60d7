/** The `smtp` relay: our SMTP client, one session per batch of messages. */
import type { Db } from "../../db/client";
import type { Env } from "../../env";
import { accessToken, expireAccessToken, type OAuthSettings, tokenOwner } from "../../oauth";
import { SmtpClient, type SmtpOAuth, type SmtpOptions } from "./smtp-client";
import { type Relay, RelayError } from "./types";

/**
 * A session is one SMTP connection, kept for the batch's messages to this
 * relay (src/outbound/sessions.ts) and ended with QUIT. The probe is the
 * same handshake (greeting, EHLO, STARTTLS or implicit TLS, AUTH) and QUIT,
 * written down as a transcript: the answer, or with the failure what the
 * server had said until then.
 */
export function smtpRelay(options: SmtpOptions): Relay {
  return {
    async open() {
      const client = await SmtpClient.connect(options);
      return {
        send: (message) => client.send(message.envelopeFrom, message.recipients, message.raw),
        close: () => client.quit(),
      };
    },
    async probe() {
      const transcript: string[] = [];
      try {
        const client = await SmtpClient.connect({ ...options, transcript });
        await client.quit();
        return { ok: true, answer: transcript.join("\n") };
      } catch (error) {
        if (!(error instanceof RelayError)) throw error;
        return { ok: false, error: error.message, code: error.code, answer: transcript.join("\n") };
      }
    },
  };
}

/**
 * XOAUTH2 access tokens for a relay, from src/oauth.ts (cached in D1 and
 * in memory). No token is a RelayError naming the cause: `oauth_refused`
 * when the provider refused the refresh token or the client (the operator
 * must authorize again: no retry will help), `oauth_unavailable` when the
 * token endpoint failed or did not answer (temporary).
 */
export function relayOAuth(env: Env, db: Db, relayId: string, username: string, settings: OAuthSettings, now: number): SmtpOAuth {
  const owner = tokenOwner("relay", relayId);
  return {
    async token(renew) {
      if (renew) await expireAccessToken(db, owner);
      const access = await accessToken(env, db, owner, settings, "smtp", now);
      if (!access.ok) throw new RelayError(`no OAuth access token to log in as ${username}: ${access.error}`, access.temporary ? "oauth_unavailable" : "oauth_refused");
      return { token: access.token, cached: access.cached };
    },
  };
}
