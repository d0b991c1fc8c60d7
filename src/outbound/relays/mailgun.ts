/**
 * Mailgun (POST /v3/{domain}/messages.mime, https://documentation.mailgun.com):
 * the composed MIME as is, as a file part; `to` is the envelope (To, Cc and
 * Bcc recipients alike), Basic auth `api:<key>`.
 */
import { toBase64 } from "../../mail/bytes";
import { jsonField, PROVIDER_TIMEOUT_MS, providerRequest } from "./http";
import { type Relay, statelessSession } from "./types";

export interface MailgunOptions {
  domain: string;
  apiKey: string;
  baseUrl: string;
}

/** The MIME endpoint, so the message goes exactly as composed; `to` is the envelope, so Bcc recipients get it without showing in a header. */
export function mailgunRelay(options: MailgunOptions): Relay {
  return {
    async open() {
      return statelessSession(async (message) =>
        providerRequest(
          message,
          () => {
            const form = new FormData();
            form.append("to", message.recipients.join(","));
            form.append("message", new Blob([message.raw], { type: "message/rfc822" }), "message.mime");
            return fetch(`${options.baseUrl}/v3/${encodeURIComponent(options.domain)}/messages.mime`, {
              method: "POST",
              headers: { Authorization: `Basic ${toBase64(`api:${options.apiKey}`)}` },
              body: form,
              signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
            });
          },
          // Mailgun answers `<id@domain>`; its events name the same id without the brackets, which is how we keep it.
          (_, text) => jsonField(text, "id")?.replace(/^<|>$/g, "") ?? null,
        ),
      );
    },
  };
}
