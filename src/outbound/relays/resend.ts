/**
 * Resend (POST /emails, https://resend.com/docs/api-reference/emails/send-email):
 * the composed message's fields; the Idempotency-Key names our message and
 * its recipients, so a redelivery Resend already took is not sent twice.
 */

import { attachments, customHeaders, fieldsRelay, jsonField, jsonOf, PROVIDER_TIMEOUT_MS, probeRefused, providerProbe, providerRequest, quoted } from "./http";
import type { ProbeResult, Relay } from "./types";

export interface ResendOptions {
  apiKey: string;
  baseUrl: string;
}

/**
 * The relay test: `GET /domains` (https://resend.com/docs/api-reference/domains/list-domains),
 * the domains and whether each is verified. A key made for sending only is
 * answered 401 `restricted_api_key` (https://resend.com/docs/api-reference/errors):
 * Resend knows the key, which is all sending needs, so that passes, saying so.
 */
function resendProbe(options: ResendOptions): Promise<ProbeResult> {
  return providerProbe(
    "Resend",
    () => fetch(`${options.baseUrl}/domains`, { headers: { Authorization: `Bearer ${options.apiKey}` }, signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS) }),
    (response, body) => {
      const answer = jsonOf(body) ?? {};
      if (response.status === 401 && answer.name === "restricted_api_key") {
        return {
          ok: true,
          answer: `Resend answered HTTP 401 restricted_api_key: "${String(answer.message ?? "")}": the key is valid and may only send, which is all a relay needs`,
        };
      }
      if (!response.ok) return probeRefused("Resend", response.status, body);
      const domains = Array.isArray(answer.data) ? (answer.data as { name?: unknown; status?: unknown }[]) : [];
      const listed = domains.map((d) => `${String(d.name)} (${String(d.status)})`).join(", ");
      return { ok: true, answer: `Resend answered HTTP ${response.status}: ${domains.length ? `domains ${listed}` : "no domains yet: add and verify one before sending"}` };
    },
  );
}

/** The Idempotency-Key is our message id and its recipients: a run the queue repeats after Resend took the message does not send it twice. */
export function resendRelay(options: ResendOptions): Relay {
  return fieldsRelay(
    async (message, { parsed, from, to, cc, bcc, replyTo, text, html }) => {
      const body = {
        from: quoted(from),
        // Resend needs a `to`: mail left only for Bcc recipients goes to the sender, the rest in Bcc.
        to: (to.length ? to : [from]).map(quoted),
        ...(cc.length && { cc: cc.map(quoted) }),
        ...(bcc.length && { bcc: bcc.map(quoted) }),
        ...(replyTo.length && { reply_to: replyTo.map(quoted) }),
        subject: parsed.subject ?? "",
        ...(text !== null && { text }),
        ...(html !== null && { html }),
        headers: Object.fromEntries(customHeaders(parsed)),
        attachments: attachments(parsed).map((a) => ({ filename: a.filename, content: a.base64, content_type: a.contentType, ...(a.contentId && { content_id: a.contentId }) })),
      };
      return providerRequest(
        message,
        () =>
          fetch(`${options.baseUrl}/emails`, {
            method: "POST",
            headers: {
              Authorization: `Bearer ${options.apiKey}`,
              "Content-Type": "application/json",
              "Idempotency-Key": `${message.id}:${[...message.recipients].sort().join(",")}`.slice(0, 256),
            },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
          }),
        (_, text) => jsonField(text, "id"),
      );
    },
    () => resendProbe(options),
  );
}
