/**
 * `/unsubscribe/{token}`: the link a List-Unsubscribe field gives
 * (src/unsubscribe.ts). No bearer token: the signed token is the
 * authorization, and RFC 8058 3.2 forbids cookies or HTTP authorization on
 * the one-click POST anyway.
 *
 * - `POST` with the body `List-Unsubscribe=One-Click` (form-urlencoded or
 *   multipart, RFC 8058 3.2) unsubscribes the token's recipient from the
 *   stream of the message: an `unsubscribed` event applied like every other
 *   recipient event (src/events/apply.ts), so the address is suppressed for
 *   that stream. The same token again is a replay: 200, nothing changes.
 *   Never a redirect (RFC 8058 3.1: redirected POSTs turn into GETs).
 * - `GET` (a person who clicked the link, or a scanner fetching it) shows a
 *   page whose button makes that POST, and changes nothing.
 * - A token that does not verify: 404 and nothing changes.
 *
 * The pages are plain HTML: no script, no style, a CSP that allows nothing
 * but posting the form back here, `nosniff`, never cached.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { applyUnsubscribe, findUnsubscribeTarget, type UnsubscribeTarget } from "../events/unsubscribe";
import type { Stream } from "../model";
import { suppressedAmong } from "../suppressions";
import { ONE_CLICK } from "../unsubscribe";
import { router } from "./context";

const PAGE_HEADERS = {
  "Content-Type": "text/html; charset=utf-8",
  "X-Content-Type-Options": "nosniff",
  // No script or style at all; the one form may only post back here.
  "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Frame-Options": "DENY",
  // The token is in the URL: no other site learns it through a Referer.
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STREAM_TEXT: Record<Stream, string> = {
  mass: "newsletters and other bulk mail",
  transactional: "mail like the message this link came in",
};

/** A whole page: a heading, paragraphs (already escaped), and the one-click form when asked. */
function page(status: 200 | 400 | 404, title: string, paragraphs: string[], form = false): Response {
  const body = [
    "<!doctype html>",
    '<html lang="en">',
    '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">',
    `<title>${escapeHtml(title)}</title></head>`,
    `<body><main><h1>${escapeHtml(title)}</h1>`,
    ...paragraphs.map((p) => `<p>${p}</p>`),
    // Posts the same body a mail client's one-click POST carries, to this same URL.
    ...(form ? ['<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>'] : []),
    "</main></body></html>",
    "",
  ].join("\n");
  return new Response(body, { status, headers: PAGE_HEADERS });
}

const invalidLink = () => page(404, "Link not valid", ["This unsubscribe link is not valid. Nothing was changed."]);
const unsubscribed = (target: UnsubscribeTarget) =>
  page(200, "Unsubscribed", [`<strong>${escapeHtml(target.recipient)}</strong> will receive no more ${STREAM_TEXT[target.stream]}.`]);

const TokenParam = z.object({
  token: z.string().openapi({ param: { name: "token", in: "path" }, description: "From the List-Unsubscribe field of the message" }),
});
const htmlPage = (description: string) => ({ content: { "text/html": { schema: z.string() } }, description });

/** A form body is a few bytes; anything much larger is not a one-click request. */
const MAX_BODY_BYTES = 4096;

export const unsubscribeApi = router();

unsubscribeApi.use("/unsubscribe/*", bodyLimit({ maxSize: MAX_BODY_BYTES, onError: () => page(400, "Not an unsubscribe request", ["The request body is too large."]) }));

unsubscribeApi.openapi(
  createRoute({
    method: "get",
    path: "/unsubscribe/{token}",
    tags: ["unsubscribe"],
    summary: "The page of a List-Unsubscribe link: a button that makes the one-click POST; changes nothing by itself",
    request: { params: TokenParam },
    responses: { 200: htmlPage("The confirmation page, or the note that the address is already unsubscribed"), 404: htmlPage("The link is not valid") },
  }),
  async (c) => {
    const db = c.get("db");
    const target = await findUnsubscribeTarget(c.env.SECRETS_KEY, db, c.req.valid("param").token);
    if (!target) return invalidLink();
    const suppressed = await suppressedAmong(db, [target.recipient], target.stream);
    if (suppressed.length) return unsubscribed(target);
    return page(200, "Unsubscribe", [`Stop sending ${STREAM_TEXT[target.stream]} to <strong>${escapeHtml(target.recipient)}</strong>?`], true);
  },
);

unsubscribeApi.openapi(
  createRoute({
    method: "post",
    path: "/unsubscribe/{token}",
    tags: ["unsubscribe"],
    summary: "One-click unsubscribe (RFC 8058): the body is `List-Unsubscribe=One-Click`, form-urlencoded or multipart; no authentication",
    description:
      "Suppresses the token's recipient for the stream of the message it came in (reason `unsubscribed`, source `list_unsubscribe`). " +
      "The same token again answers 200 and changes nothing; a token that does not verify answers 404 and changes nothing. Never a redirect.",
    request: { params: TokenParam },
    responses: {
      200: htmlPage("Unsubscribed (now or before)"),
      400: htmlPage("The body is not `List-Unsubscribe=One-Click`"),
      404: htmlPage("The link is not valid"),
    },
  }),
  async (c) => {
    // parseBody reads form-urlencoded and multipart bodies; any other type reads as no field at all.
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    if (form["List-Unsubscribe"] !== "One-Click") {
      return page(400, "Not an unsubscribe request", [`An unsubscribe request carries the form field <code>${escapeHtml(ONE_CLICK)}</code>. Nothing was changed.`]);
    }
    const db = c.get("db");
    const target = await findUnsubscribeTarget(c.env.SECRETS_KEY, db, c.req.valid("param").token);
    if (!target) return invalidLink();
    await applyUnsubscribe(c.env, db, target, "one_click", c.get("clock")());
    return unsubscribed(target);
  },
);
