/**
 * Resend (POST /emails, https://resend.com/docs/api-reference/emails/send-email):
 * the composed message's fields; the Idempotency-Key names our message and
 * its recipients, so a redelivery Resend already took is not sent twice.
 */

import { attachments, customHeaders, fieldsRelay, jsonField, PROVIDER_TIMEOUT_MS, providerRequest, quoted } from "./http";
import type { Relay } from "./types";

export interface ResendOptions {
  apiKey: string;
  baseUrl: string;
}

/** The Idempotency-Key is our message id and its recipients: a run the queue repeats after Resend took the message does not send it twice. */
export function resendRelay(options: ResendOptions): Relay {
  return fieldsRelay(async (message, { parsed, from, to, cc, bcc, replyTo, text, html }) => {
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
  });
}
