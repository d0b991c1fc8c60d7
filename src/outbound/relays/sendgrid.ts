/**
 * SendGrid (POST /v3/mail/send, https://www.twilio.com/docs/sendgrid/api-reference/mail-send):
 * the composed message's fields in one personalization, text before html,
 * our headers except those SendGrid reserves; the id is X-Message-Id.
 */

import type { Mailbox } from "../../model";
import { attachments, customHeaders, fieldsRelay, jsonOf, PROVIDER_TIMEOUT_MS, probeRefused, providerProbe, providerRequest } from "./http";
import type { ProbeResult, Relay } from "./types";

export interface SendgridOptions {
  apiKey: string;
  baseUrl: string;
}

/** SendGrid answers 400 "Header can not be one of the reserved keys" for these. */
const RESERVED = new Set(["x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"]);

const person = (m: Mailbox) => (m.name ? { email: m.address, name: m.name } : { email: m.address });

/**
 * The relay test: `GET /v3/scopes`
 * (https://www.twilio.com/docs/sendgrid/api-reference/api-key-permissions/retrieve-a-list-of-scopes-for-which-this-user-has-access),
 * the scopes of the key itself: it passes when `mail.send`, which sending
 * needs, is among them.
 */
function sendgridProbe(options: SendgridOptions): Promise<ProbeResult> {
  return providerProbe(
    "SendGrid",
    () => fetch(`${options.baseUrl}/v3/scopes`, { headers: { Authorization: `Bearer ${options.apiKey}` }, signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS) }),
    (response, body) => {
      if (!response.ok) return probeRefused("SendGrid", response.status, body);
      const scopes = jsonOf(body)?.scopes;
      const list = Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === "string") : [];
      if (!list.includes("mail.send")) {
        return {
          ok: false,
          error: `SendGrid answered HTTP ${response.status}, but the key lacks the mail.send scope sending needs (it has ${list.length ? list.slice(0, 10).join(", ") : "none"})`,
          code: "scope",
        };
      }
      return { ok: true, answer: `SendGrid answered HTTP ${response.status}: the key has the mail.send scope (${list.length} scopes in all)` };
    },
  );
}

/**
 * One personalization, so every recipient gets the same message. Headers
 * SendGrid reserves are left out: one of them makes it refuse the whole
 * request.
 */
export function sendgridRelay(options: SendgridOptions): Relay {
  return fieldsRelay(
    async (message, { parsed, from, to, cc, bcc, replyTo: [replyTo], text, html }) => {
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
    },
    () => sendgridProbe(options),
  );
}
