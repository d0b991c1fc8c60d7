/**
 * SendGrid (POST /v3/mail/send, https://www.twilio.com/docs/sendgrid/api-reference/mail-send):
 * the composed message's fields in one personalization, text before html,
 * our headers except those SendGrid reserves; the id is X-Message-Id.
 */

import type { Mailbox } from "../../model";
import { attachments, customHeaders, fieldsRelay, PROVIDER_TIMEOUT_MS, providerRequest } from "./http";
import type { Relay } from "./types";

export interface SendgridOptions {
  apiKey: string;
  baseUrl: string;
}

/** SendGrid answers 400 "Header can not be one of the reserved keys" for these. */
const RESERVED = new Set(["x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"]);

const person = (m: Mailbox) => (m.name ? { email: m.address, name: m.name } : { email: m.address });

/**
 * One personalization, so every recipient gets the same message. Headers
 * SendGrid reserves are left out: one of them makes it refuse the whole
 * request.
 */
export function sendgridRelay(options: SendgridOptions): Relay {
  return fieldsRelay(async (message, { parsed, from, to, cc, bcc, replyTo: [replyTo], text, html }) => {
    const content = [...(text ? [{ type: "text/plain", value: text }] : []), ...(html ? [{ type: "text/html", value: html }] : [])];
    const files = attachments(parsed);
    const body = {
      // A personalization needs a `to`: mail left only for Bcc recipients goes to the sender, the rest in Bcc.
      personalizations: [{ to: (to.length ? to : [from]).map(person), ...(cc.length && { cc: cc.map(person) }), ...(bcc.length && { bcc: bcc.map(person) }) }],
      from: person(from),
      ...(replyTo && { reply_to: person(replyTo) }),
      subject: parsed.subject || " ",
      content: content.length ? content : [{ type: "text/plain", value: " " }],
      ...(files.length && {
        attachments: files.map((a) => ({
          content: a.base64,
          filename: a.filename,
          type: a.contentType,
          disposition: a.contentId ? "inline" : "attachment",
          ...(a.contentId && { content_id: a.contentId.replace(/^<|>$/g, "") }),
        })),
      }),
      headers: Object.fromEntries(customHeaders(parsed).filter(([name]) => !RESERVED.has(name.toLowerCase()))),
    };
    return providerRequest(
      message,
      () =>
        fetch(`${options.baseUrl}/v3/mail/send`, {
          method: "POST",
          headers: { Authorization: `Bearer ${options.apiKey}`, "Content-Type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
        }),
      (response) => response.headers.get("x-message-id"),
    );
  });
}
