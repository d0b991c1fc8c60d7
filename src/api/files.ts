/**
 * `/files/...`: what webhook payloads link to, the raw MIME and each
 * attachment of a message. No bearer token: the link's signature and
 * expiry are the authorization (src/deliveries/signed-url.ts), so a
 * receiver can fetch with nothing but the link.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import PostalMime from "postal-mime";
import type { Db } from "../db/client";
import { messages } from "../db/schema";
import { verifySignedPath } from "../deliveries/signed-url";
import { router } from "./context";
import { ApiError, notFound } from "./errors";
import { errorResponses } from "./schemas";

const SignedQuery = z.object({ expires: z.string().optional(), signature: z.string().optional() });
const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });
const AttachmentParams = IdParam.extend({ index: z.coerce.number().int().min(0).openapi({ param: { name: "index", in: "path" } }) });

export const filesApi = router();

async function authorize(secretsKey: string | undefined, path: string, query: z.infer<typeof SignedQuery>): Promise<void> {
  if (!(await verifySignedPath(secretsKey, path, query.expires, query.signature, Date.now()))) {
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
    responses: { 200: { content: { "message/rfc822": { schema: z.string() } }, description: "The raw message" }, ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    await authorize(c.env.SECRETS_KEY, `/files/${id}/raw`, c.req.valid("query"));
    const object = await rawOf(c.get("db"), c.env.RAW, id);
    return new Response(object.body, { headers: { "Content-Type": "message/rfc822", "Content-Length": String(object.size) } });
  },
);

filesApi.openapi(
  createRoute({
    method: "get",
    path: "/files/{id}/attachments/{index}",
    tags: ["files"],
    summary: "One attachment of a message, by signed link",
    request: { params: AttachmentParams, query: SignedQuery },
    responses: { 200: { content: { "application/octet-stream": { schema: z.string() } }, description: "The attachment" }, ...errorResponses },
  }),
  async (c) => {
    const { id, index } = c.req.valid("param");
    await authorize(c.env.SECRETS_KEY, `/files/${id}/attachments/${index}`, c.req.valid("query"));
    const parsed = await PostalMime.parse(await (await rawOf(c.get("db"), c.env.RAW, id)).arrayBuffer());
    const attachment = parsed.attachments[index];
    if (!attachment) throw notFound(`attachment ${index} of message ${id}`);
    const name = (attachment.filename ?? `attachment-${index}`).replace(/["\\\r\n]/g, "_");
    return new Response(attachment.content as ArrayBuffer, {
      headers: { "Content-Type": attachment.mimeType, "Content-Disposition": `attachment; filename="${name}"; filename*=UTF-8''${encodeURIComponent(name)}` },
    });
  },
);
