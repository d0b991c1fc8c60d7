/**
 * Postmark (POST /email, https://postmarkapp.com/developer/api/email-api):
 * the composed message's fields, its headers (with `X-PM-KeepID: true` so
 * Postmark keeps our Message-ID), attachments as base64.
 */

import { attachments, customHeaders, fieldsRelay, jsonField, jsonOf, PROVIDER_TIMEOUT_MS, probeRefused, providerProbe, providerRequest, quoted } from "./http";
import type { ProbeResult, Relay, SendOutcome } from "./types";

export interface PostmarkOptions {
  serverToken: string;
  messageStream: string | null;
  baseUrl: string;
}

/** Postmark answers 422 with ErrorCode 406 and "Found inactive addresses: a, b." for suppressed recipients. */
function inactiveRecipients(recipients: string[], status: number, body: string): SendOutcome | null {
  if (status !== 422) return null;
  let parsed: { ErrorCode?: number; Message?: string };
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  if (parsed.ErrorCode !== 406) return null;
  const found = /Found inactive addresses: (.+?)\.?\s*Inactive/s.exec(parsed.Message ?? "");
  const inactive = new Set((found?.[1] ?? "").split(",").map((a) => a.trim().toLowerCase()));
  return {
    kind: "sent",
    providerMessageId: null,
    recipients: recipients.map((address) =>
      inactive.has(address)
        ? // Postmark refuses an address its own bounces or complaints made inactive: the mailbox does not take mail.
          { address, status: "failed", code: "406", message: parsed.Message ?? "inactive recipient", bounce: { status: null, hard: true } }
        : { address, status: "deferred", code: "406", message: "not sent: another recipient is inactive" },
    ),
  };
}

/**
 * The relay test: `GET /server` with the server token
 * (https://postmarkapp.com/developer/api/server-api), Postmark's read-only
 * view of the server the token belongs to. Its answer holds the server's
 * API tokens, so only the name and id are shown.
 */
function postmarkProbe(options: PostmarkOptions): Promise<ProbeResult> {
  return providerProbe(
    "Postmark",
    () =>
      fetch(`${options.baseUrl}/server`, {
        headers: { Accept: "application/json", "X-Postmark-Server-Token": options.serverToken },
        signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
      }),
    (response, body) => {
      if (!response.ok) return probeRefused("Postmark", response.status, body);
      const server = jsonOf(body) ?? {};
      const stream = options.messageStream ? `; messages go to the stream "${options.messageStream}"` : "";
      return { ok: true, answer: `Postmark answered HTTP ${response.status}: the token is the server "${String(server.Name ?? "?")}" (ID ${String(server.ID ?? "?")})${stream}` };
    },
  );
}

/**
 * Postmark takes fields, not MIME: the message is read back
 * (`fieldsRelay`) and sent with X-PM-KeepID, so the Message-ID that
 * replies cite stays ours.
 */
export function postmarkRelay(options: PostmarkOptions): Relay {
  return fieldsRelay(
    async (message, { parsed, from, to, cc, bcc, replyTo, text, html }) => {
      const body = {
        From: quoted(from),
        To: to.map(quoted).join(", "),
        ...(cc.length && { Cc: cc.map(quoted).join(", ") }),
        ...(bcc.length && { Bcc: bcc.map(quoted).join(", ") }),
        ...(replyTo.length && { ReplyTo: replyTo.map(quoted).join(", ") }),
        Subject: parsed.subject ?? "",
        ...(text !== null && { TextBody: text }),
        ...(html !== null && { HtmlBody: html }),
        Headers: [...customHeaders(parsed).map(([Name, Value]) => ({ Name, Value })), { Name: "X-PM-KeepID", Value: "true" }],
        Attachments: attachments(parsed).map((a) => ({ Name: a.filename, Content: a.base64, ContentType: a.contentType, ...(a.contentId && { ContentID: a.contentId }) })),
        ...(options.messageStream && { MessageStream: options.messageStream }),
      };
      return providerRequest(
        message,
        () =>
          fetch(`${options.baseUrl}/email`, {
            method: "POST",
            headers: { Accept: "application/json", "Content-Type": "application/json", "X-Postmark-Server-Token": options.serverToken },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
          }),
        (_, text) => jsonField(text, "MessageID"),
        (response, text) => inactiveRecipients(message.recipients, response.status, text),
      );
    },
    () => postmarkProbe(options),
  );
}
