/** `POST /v1/messages`: the send API. */
import { createRoute, z } from "@hono/zod-openapi";
import { sha256Hex } from "../hash";
import { recipientsOf } from "../outbound/draft";
import { type SendRefusal, sendRefusalText } from "../outbound/refusals";
import { acceptSend, type SendRequest } from "../outbound/send";
import { type Principal, router } from "./context";
import { ApiError } from "./errors";
import { conflictResponse, ErrorSchema, errorResponses, json, jsonBody, MailboxInput, security, unprocessableResponse } from "./schemas";

export const MAX_RECIPIENTS = 50;

const NO_CRLF = /^[^\r\n]*$/;

/**
 * Headers that belong to fields of the request, or that relays, receiving
 * servers and mailgate itself set: From, To, Cc, Bcc, Reply-To, Sender,
 * Subject, Date, Message-ID, In-Reply-To, References, MIME-Version, every
 * `Content-*`, Return-Path (the delivering server adds it, RFC 5321 4.4),
 * Received, Authentication-Results, DKIM-Signature and every `X-Mailgate-*`.
 * `Auto-Submitted` is allowed: RFC 3834 asks senders of automatic mail to set it.
 */
const RESERVED_HEADERS = new Set([
  "from",
  "to",
  "cc",
  "bcc",
  "reply-to",
  "sender",
  "subject",
  "date",
  "message-id",
  "in-reply-to",
  "references",
  "mime-version",
  "return-path",
  "received",
  "authentication-results",
  "dkim-signature",
]);
const RESERVED_PREFIXES = ["content-", "x-mailgate-"];

/**
 * Whether a caller's custom header would clash with one that a field of
 * the request, mailgate, a relay or the receiving server sets; header
 * names compare case-insensitively.
 */
export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED_HEADERS.has(lower) || RESERVED_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/**
 * List-Unsubscribe and List-Unsubscribe-Post are mailgate's when it offers
 * unsubscribing (mass mail, or `list_unsubscribe`): a message must carry one
 * of each (RFC 8058 3.1). Otherwise they stay the caller's to set, for mail
 * whose unsubscribing the caller handles itself.
 */
const mailgateListHeader = (name: string) => ["list-unsubscribe", "list-unsubscribe-post"].includes(name.toLowerCase());

/** Whether mailgate writes List-Unsubscribe on this message: always on mass mail, on request on transactional mail. */
const offersUnsubscribe = (body: { stream: string; list_unsubscribe?: boolean | undefined }) => body.stream === "mass" || body.list_unsubscribe === true;

const HEADER_NAME = /^[!-9;-~]+$/;
/** Base64, checked without a backtracking regex (attachments may be tens of megabytes). */
function isBase64(text: string): boolean {
  if (text.length % 4 !== 0 || /[^A-Za-z0-9+/=]/.test(text)) return false;
  const padding = text.indexOf("=");
  return padding === -1 || (padding >= text.length - 2 && /^=+$/.test(text.slice(padding)));
}

const SendBody = z
  .strictObject({
    from: MailboxInput,
    to: z.array(MailboxInput).max(MAX_RECIPIENTS).default([]),
    cc: z.array(MailboxInput).max(MAX_RECIPIENTS).default([]),
    bcc: z.array(MailboxInput).max(MAX_RECIPIENTS).default([]),
    reply_to: MailboxInput.optional(),
    subject: z.string().min(1).max(998).regex(NO_CRLF, "must not contain CR or LF (header injection)"),
    text: z
      .string()
      .max(30 * 1024 * 1024)
      .optional(),
    html: z
      .string()
      .max(30 * 1024 * 1024)
      .optional(),
    attachments: z
      .array(
        z.strictObject({
          filename: z.string().min(1).max(255).regex(NO_CRLF, "must not contain CR or LF"),
          content: z
            .string()
            .transform((c) => c.replace(/\s+/g, ""))
            .refine(isBase64, "must be base64"),
          content_type: z
            .string()
            .regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i, "must be a MIME type such as application/pdf")
            .optional(),
        }),
      )
      .max(100)
      .default([]),
    headers: z
      .record(
        z.string().regex(HEADER_NAME, "header names are printable ASCII without ':' or spaces"),
        z.string().max(2000).regex(NO_CRLF, "must not contain CR or LF (header injection)"),
      )
      .default({})
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers)) {
          if (isReservedHeader(name)) ctx.addIssue({ code: "custom", path: [name], message: `${name} is set by mailgate or by a field of the request` });
        }
      }),
    thread_id: z.string().max(64).optional().openapi({ description: "Continue this thread (References and In-Reply-To are set); a new thread is opened otherwise" }),
    stream: z.enum(["transactional", "mass"]).default("transactional"),
    list_unsubscribe: z
      .boolean()
      .optional()
      .openapi({
        description:
          "Offer one-click unsubscribe (List-Unsubscribe with List-Unsubscribe-Post, RFC 8058): always on mass mail, on transactional mail when true, " +
          "where an unsubscribe then suppresses the address for transactional mail. Such a message goes to exactly one recipient, whom its link names",
      }),
  })
  .superRefine((body, ctx) => {
    if (body.stream === "mass" && body.list_unsubscribe === false) {
      ctx.addIssue({ code: "custom", path: ["list_unsubscribe"], message: "mass mail always offers one-click unsubscribe (Gmail and Yahoo require it of bulk senders)" });
    }
    if (offersUnsubscribe(body)) {
      for (const name of Object.keys(body.headers)) {
        if (mailgateListHeader(name)) ctx.addIssue({ code: "custom", path: ["headers", name], message: `${name} is set by mailgate on mass mail and with list_unsubscribe` });
      }
    }
    const count = body.to.length + body.cc.length + body.bcc.length;
    if (count === 0) ctx.addIssue({ code: "custom", path: ["to"], message: "at least one recipient (to, cc or bcc) is needed" });
    if (count > MAX_RECIPIENTS) ctx.addIssue({ code: "custom", path: ["to"], message: `at most ${MAX_RECIPIENTS} recipients in to, cc and bcc together (got ${count})` });
    if (body.text === undefined && body.html === undefined) ctx.addIssue({ code: "custom", path: ["text"], message: "text or html is needed" });
  })
  .openapi("SendRequest");

const SendAnswerSchema = z
  .object({
    id: z.string(),
    message_id: z.string(),
    status: z.literal("queued"),
    thread_id: z.string(),
    relay: z.object({ id: z.string(), name: z.string(), type: z.string() }),
    from: z.string().openapi({ description: "The From header as sent (after any rewrite)" }),
    envelope_from: z.string(),
    suppressed: z.array(z.string()).openapi({ description: "Recipients left out because they are suppressed for this stream; only the others reach the relay" }),
  })
  .openapi("SendAnswer");

/** Each reason a send is refused, as the HTTP answer the route documents. */
function refusalError(refusal: SendRefusal, principal: Principal): ApiError {
  const text = sendRefusalText(refusal);
  switch (refusal.reason) {
    case "forbidden_domain":
      return new ApiError("forbidden", text);
    case "idempotency_conflict":
      return new ApiError("conflict", text);
    case "too_large":
      return new ApiError("payload_too_large", text);
    case "unknown_thread":
      // A key is told the same whether the thread does not exist or is someone else's.
      return principal.kind === "key" ? new ApiError("not_found", `thread ${refusal.threadId} not found`) : new ApiError("unprocessable", text);
    case "suppressed":
    case "no_relay":
      return new ApiError("unprocessable", text);
  }
}

export const sendApi = router();

sendApi.openapi(
  createRoute({
    method: "post",
    path: "/messages",
    tags: ["messages"],
    summary: "Send a message (queued; see GET /v1/messages/{id} for its delivery)",
    security,
    request: {
      headers: z.object({
        "idempotency-key": z.string().min(1).max(255).optional().openapi({ description: "Same key and body within 24 h: the first answer, nothing sent again" }),
      }),
      body: jsonBody(SendBody),
    },
    responses: {
      202: json(SendAnswerSchema, "Accepted and queued"),
      403: json(ErrorSchema, "The API key may not send from this domain"),
      ...conflictResponse,
      413: json(ErrorSchema, "Larger than the chosen relay takes"),
      ...unprocessableResponse,
      ...errorResponses,
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const principal = c.get("principal");
    if (offersUnsubscribe(body)) {
      // One copy of the MIME goes to every recipient, so its link can name only one of them: RFC 8058 3.1 wants the
      // link to identify its recipient, and a link naming several would let any of them unsubscribe the others. A mail
      // operator sends mass mail one message per recipient (as Odoo's mass mailing does), so several are refused.
      const count = recipientsOf(body).length;
      if (count !== 1) {
        throw new ApiError(
          "unprocessable",
          `to: a message with a one-click unsubscribe link (stream "mass", or list_unsubscribe) goes to exactly one recipient in to, cc and bcc together, ` +
            `whom its link unsubscribes (got ${count}): send one message per recipient`,
        );
      }
    }
    const key = c.req.valid("header")["idempotency-key"];
    const request: SendRequest = {
      author: body.from,
      to: body.to,
      cc: body.cc,
      bcc: body.bcc,
      replyTo: body.reply_to ?? null,
      subject: body.subject,
      text: body.text ?? null,
      html: body.html ?? null,
      attachments: body.attachments.map((a) => ({ filename: a.filename, content: a.content, contentType: a.content_type ?? "application/octet-stream" })),
      headers: body.headers,
      threadId: body.thread_id ?? null,
      stream: body.stream,
      listUnsubscribe: offersUnsubscribe(body),
    };
    const result = await acceptSend(
      c.env,
      c.get("db"),
      principal.kind === "key" ? { apiKeyId: principal.id, fromDomains: principal.fromDomains } : { apiKeyId: null, fromDomains: null },
      request,
      key ? { key, hash: await sha256Hex(JSON.stringify(body)) } : null,
      c.get("clock")(),
    );
    if (!result.ok) throw refusalError(result.refusal, principal);
    if (result.replayed) c.header("Idempotent-Replayed", "true");
    return c.json(result.answer, 202);
  },
);
