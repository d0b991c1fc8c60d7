/**
 * `/files/...`: what webhook payloads link to, the raw MIME and each
 * attachment of a message. No bearer token: the link's signature and
 * expiry are the authorization (src/deliveries/signed-url.ts), so a
 * receiver can fetch with nothing but the link.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { messages } from "../db/schema";
import { verifySignedPath } from "../deliveries/signed-url";
import { parseMessage } from "../mail/parse";
import { router } from "./context";
import { ApiError, notFound } from "./errors";
import { ErrorSchema, errorResponses, json } from "./schemas";

const SignedQuery = z.object({ expires: z.string().optional(), signature: z.string().optional() });
const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });
/** Only the form the Worker writes (no `01`, `+1`, `0x1`, `1.0`, `-0`): a link names one thing, spelled one way. */
const AttachmentParams = IdParam.extend({
  index: z
    .string()
    .regex(/^(?:0|[1-9][0-9]{0,5})$/, "an attachment number as written in the link")
    .openapi({ param: { name: "index", in: "path" }, example: "0" }),
});

/** Types a browser would render or run from our origin; downloads of these are plain bytes. */
const ACTIVE_CONTENT =
  /^(?:text\/html|application\/xhtml\+xml|image\/svg\+xml|text\/xml|application\/xml|text\/javascript|application\/javascript|application\/ecmascript|text\/xsl)\b/i;

/**
 * Headers of a download: the type (active content as application/octet-stream),
 * `nosniff`, and an RFC 6266 `Content-Disposition` whose `filename` is an
 * ASCII stand-in and `filename*` the real name (RFC 5987), so no header ever
 * carries raw non-ASCII bytes.
 */
export function downloadHeaders(filename: string, contentType: string, size?: number): Record<string, string> {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return {
    "Content-Type": ACTIVE_CONTENT.test(contentType) ? "application/octet-stream" : contentType,
    "Content-Disposition": `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`,
    "X-Content-Type-Options": "nosniff",
    ...(size !== undefined && { "Content-Length": String(size) }),
  };
}

export const filesApi = router();

async function authorize(secretsKey: string | undefined, path: string, query: z.infer<typeof SignedQuery>, now: number): Promise<void> {
  if (!(await verifySignedPath(secretsKey, path, query.expires, query.signature, now))) {
    throw new ApiError("forbidden", "the link is invalid or has expired");
  }
}

async function rawOf(db: Db, bucket: R2Bucket, id: string): Promise<R2ObjectBody> {
  const row = await db.select({ rawKey: messages.rawKey }).from(messages).where(eq(messages.id, id)).get();
  const object = row?.rawKey ? await bucket.get(row.rawKey) : null;
  if (!object) throw notFound(`raw MIME of message ${id}`);
  return object;
}

filesApi.openapi(
  createRoute({
    method: "get",
    path: "/files/{id}/raw",
    tags: ["files"],
    summary: "The raw MIME of a message, by signed link",
    request: { params: IdParam, query: SignedQuery },
    responses: {
      200: { content: { "message/rfc822": { schema: z.string() } }, description: "The raw message" },
      403: json(ErrorSchema, "Invalid or expired link"),
      ...errorResponses,
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    await authorize(c.env.SECRETS_KEY, `/files/${id}/raw`, c.req.valid("query"), c.get("clock")());
    const object = await rawOf(c.get("db"), c.env.RAW, id);
    return new Response(object.body, { headers: downloadHeaders(`${id}.eml`, "message/rfc822", object.size) });
  },
);

filesApi.openapi(
  createRoute({
    method: "get",
    path: "/files/{id}/attachments/{index}",
    tags: ["files"],
    summary: "One attachment of a message, by signed link",
    request: { params: AttachmentParams, query: SignedQuery },
    responses: {
      200: { content: { "application/octet-stream": { schema: z.string() } }, description: "The attachment" },
      403: json(ErrorSchema, "Invalid or expired link"),
      422: json(ErrorSchema, "The stored message cannot be parsed"),
      ...errorResponses,
    },
  }),
  async (c) => {
    const { id, index } = c.req.valid("param");
    await authorize(c.env.SECRETS_KEY, `/files/${id}/attachments/${index}`, c.req.valid("query"), c.get("clock")());
    const parsed = await parseMessage(await (await rawOf(c.get("db"), c.env.RAW, id)).arrayBuffer());
    if (!parsed.ok) throw new ApiError("unprocessable", parsed.reason);
    const attachment = parsed.email.attachments[Number(index)];
    if (!attachment) throw notFound(`attachment ${index} of message ${id}`);
    const content = attachment.content as ArrayBuffer;
    return new Response(content, { headers: downloadHeaders(attachment.filename ?? `attachment-${index}`, attachment.mimeType, content.byteLength) });
  },
);
