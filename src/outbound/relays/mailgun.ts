/**
 * Mailgun (POST /v3/{domain}/messages.mime, https://documentation.mailgun.com):
 * the composed MIME as is, as a file part; `to` is the envelope (To, Cc and
 * Bcc recipients alike), Basic auth `api:<key>`.
 */
import { toBase64 } from "../../mail/bytes";
import { jsonField, jsonOf, PROVIDER_TIMEOUT_MS, probeRefused, providerProbe, providerRequest } from "./http";
import { type ProbeResult, type Relay, statelessSession } from "./types";

export interface MailgunOptions {
  domain: string;
  apiKey: string;
  baseUrl: string;
}

/**
 * The relay test: `GET /v4/domains/{name}`
 * (https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/domains/get-v4-domains--name-),
 * the relay's sending domain and its state; 401 is a wrong key (a
 * domain sending key, which may only send, gets it too: a test message
 * tells), 404 a domain the account does not have.
 */
function mailgunProbe(options: MailgunOptions): Promise<ProbeResult> {
  return providerProbe(
    "Mailgun",
    () =>
      fetch(`${options.baseUrl}/v4/domains/${encodeURIComponent(options.domain)}?h:with_dns=false`, {
        headers: { Authorization: `Basic ${toBase64(`api:${options.apiKey}`)}` },
        signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
      }),
    (response, body) => {
      if (response.status === 401) {
        const refused = probeRefused("Mailgun", response.status, body);
        return { ...refused, error: `${refused.error} (a wrong API key; a domain sending key may only send: send a test message to check one)` };
      }
      if (!response.ok) return probeRefused("Mailgun", response.status, body);
      const domain = (jsonOf(body)?.domain ?? {}) as Record<string, unknown>;
      const state = String(domain.state ?? "unknown");
      const note = state === "active" ? "" : ": Mailgun sends only from active domains";
      return { ok: true, answer: `Mailgun answered HTTP ${response.status}: the domain ${String(domain.name ?? options.domain)} is ${state}${note}` };
    },
  );
}

/** The MIME endpoint, so the message goes exactly as composed; `to` is the envelope, so Bcc recipients get it without showing in a header. */
export function mailgunRelay(options: MailgunOptions): Relay {
  return {
    probe: () => mailgunProbe(options),
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
