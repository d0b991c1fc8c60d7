/**
 * `/v1/incoming-servers`: mailboxes mailgate fetches (Odoo's incoming mail
 * servers), over IMAP or POP3, with a password or OAuth (Google,
 * Microsoft). Credentials are write-only: sealed with SECRETS_KEY before
 * they reach D1, never returned, logged or echoed in errors. The host
 * follows the webhook rules (no private or loopback address, and TLS,
 * unless ALLOW_PRIVATE_WEBHOOKS is set), since mailgate connects to it.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { domains, incomingFetched, incomingServers } from "../db/schema";
import { allowsPrivateTargets, checkWebhookUrl } from "../deliveries/webhook-url";
import type { Env } from "../env";
import { newId } from "../ids";
import { mailboxErrorText } from "../incoming/errors";
import { type IncomingCredentials, type IncomingServerRow, openMailbox } from "../incoming/fetch";
import { defaultPort, INCOMING_PROTOCOLS, INCOMING_SECURITY } from "../incoming/settings";
import { domainOf } from "../mail/address";
import { forgetAccessToken, OAUTH_PROVIDERS, OAuthSettings, tokenOwner } from "../oauth";
import { enqueue } from "../queue/enqueue";
import { MissingSecretsKey, seal, unseal } from "../secrets";
import { router } from "./context";
import { ApiError, notFound } from "./errors";
import { conflictResponse, EmailAddress, errorResponses, iso, json, jsonBody, security, Timestamp, unprocessableResponse } from "./schemas";

const Password = z.string().min(1).max(4096);
const Host = z
  .string()
  .trim()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:[\]-]+$/, "must be a host name or an IP address");
const Folder = z
  .string()
  .min(1)
  .max(500)
  .regex(/^[^\r\n\0]+$/, "must be one line");

const serverFields = {
  name: z.string().trim().min(1).max(200),
  protocol: z.enum(INCOMING_PROTOCOLS),
  host: Host,
  port: z.number().int().min(1).max(65535).optional().openapi({ description: "Defaults to 993/143 (IMAP) or 995/110 (POP3) by security" }),
  security: z
    .enum(INCOMING_SECURITY)
    .openapi({ description: "tls: implicit TLS (993, 995); starttls: STARTTLS/STLS required; none: plaintext, only where ALLOW_PRIVATE_WEBHOOKS is set" }),
  username: z.string().min(1).max(320),
  password: Password.optional().openapi({ description: "Write-only" }),
  oauth: OAuthSettings.optional().openapi({ description: "Write-only: log in with SASL XOAUTH2 with an access token got from this refresh token" }),
  folder: Folder.optional().openapi({ description: "IMAP: the folder fetched (default INBOX)" }),
  deliver_to: EmailAddress.openapi({ description: "The envelope recipient fetched mail counts as delivered to: an alias, the catchall, the bounce address" }),
  enabled: z.boolean().optional(),
};

const CreateServerBody = z.strictObject(serverFields).openapi("CreateIncomingServer");
const PatchServerBody = z
  .strictObject({
    name: serverFields.name.optional(),
    protocol: serverFields.protocol.optional(),
    host: serverFields.host.optional(),
    port: serverFields.port,
    security: serverFields.security.optional(),
    username: serverFields.username.optional(),
    password: serverFields.password,
    oauth: serverFields.oauth,
    folder: serverFields.folder,
    deliver_to: serverFields.deliver_to.optional(),
    enabled: serverFields.enabled,
  })
  .openapi("PatchIncomingServer", { description: "Credentials must be given again when protocol, host, port, security or username change" });

const ServerSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    protocol: z.enum(INCOMING_PROTOCOLS),
    host: z.string(),
    port: z.number().int(),
    security: z.enum(INCOMING_SECURITY),
    username: z.string(),
    folder: z.string(),
    deliver_to: z.string(),
    enabled: z.boolean(),
    login: z.enum(["password", "oauth"]).openapi({ description: "How it logs in (the credentials themselves are never returned)" }),
    oauth_provider: z.enum(OAUTH_PROVIDERS).nullable(),
    status: z.object({
      fetching: z.boolean().openapi({ description: "A fetch is asked for or running and not finished" }),
      last_fetch_at: Timestamp.nullable(),
      last_counts: z
        .object({
          fetched: z.number().int(),
          accepted: z.number().int(),
          refused: z.number().int(),
          dropped: z.number().int(),
          failed: z.number().int().openapi({ description: "Messages the pipeline could not take (left unread for the next run)" }),
          remaining: z.number().int(),
        })
        .nullable()
        .openapi({ description: "What the last run took, how it was decided, what it could not take, and how many still wait" }),
      fetched_total: z.number().int(),
      last_error: z.string().nullable(),
      last_error_at: Timestamp.nullable(),
    }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("IncomingServer");

async function credentialsOf(env: Env, row: IncomingServerRow): Promise<IncomingCredentials> {
  return unseal<IncomingCredentials>(env.SECRETS_KEY, row.secrets, "incoming-credentials");
}

async function serverOut(env: Env, row: IncomingServerRow, now: number): Promise<z.infer<typeof ServerSchema>> {
  const credentials = await credentialsOf(env, row);
  const counts = row.lastCounts as z.infer<typeof ServerSchema>["status"]["last_counts"];
  return {
    id: row.id,
    name: row.name,
    protocol: row.protocol,
    host: row.host,
    port: row.port,
    security: row.security,
    username: row.username,
    folder: row.folder,
    deliver_to: row.deliverTo,
    enabled: row.enabled,
    login: "oauth" in credentials ? "oauth" : "password",
    oauth_provider: "oauth" in credentials ? credentials.oauth.provider : null,
    status: {
      fetching: row.fetchRequestedAt !== null || (row.leaseUntil !== null && row.leaseUntil.getTime() > now),
      last_fetch_at: row.lastFetchAt ? iso(row.lastFetchAt) : null,
      last_counts: counts ? { ...counts, failed: counts.failed ?? 0 } : null,
      fetched_total: row.fetchedTotal,
      last_error: row.lastError,
      last_error_at: row.lastErrorAt ? iso(row.lastErrorAt) : null,
    },
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

type Settings = Pick<IncomingServerRow, "protocol" | "host" | "port" | "security" | "folder" | "deliverTo">;

/** The rules a server's settings follow beyond their shapes: where it may connect, and that mail is delivered to a domain served here. */
async function checkSettings(env: Env, db: Db, settings: Settings): Promise<void> {
  const allowPrivate = allowsPrivateTargets(env);
  if (settings.security === "none" && !allowPrivate)
    throw new ApiError("invalid_request", "invalid body: security: must be tls or starttls (plaintext would send the password in the clear)");
  const host = settings.host.includes(":") && !settings.host.startsWith("[") ? `[${settings.host}]` : settings.host;
  const checked = checkWebhookUrl(`https://${host}:${settings.port}/`, allowPrivate);
  if (!checked.ok) throw new ApiError("invalid_request", `invalid body: host: ${checked.reason.replace(/^must/, "must")}`);
  if (settings.protocol === "pop3" && settings.folder !== "INBOX") throw new ApiError("invalid_request", "invalid body: folder: POP3 has no folders (leave it out)");
  const domain = await db
    .select({ name: domains.name })
    .from(domains)
    .where(eq(domains.name, domainOf(settings.deliverTo)))
    .get();
  if (!domain) throw new ApiError("unprocessable", `deliver_to: ${settings.deliverTo} is not on a domain mailgate serves (POST /v1/domains first)`);
}

async function sealCredentials(env: Env, credentials: IncomingCredentials): Promise<string> {
  try {
    return await seal(env.SECRETS_KEY, credentials, "incoming-credentials");
  } catch (error) {
    if (error instanceof MissingSecretsKey) throw new ApiError("internal_error", error.message);
    throw error;
  }
}

/** Exactly one way to log in. */
function credentialsFrom(body: { password?: string; oauth?: OAuthSettings }): IncomingCredentials | null {
  if (body.password !== undefined && body.oauth !== undefined) throw new ApiError("invalid_request", "invalid body: password, oauth: give one of them, not both");
  if (body.password !== undefined) return { password: body.password };
  if (body.oauth !== undefined) return { oauth: body.oauth };
  return null;
}

const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });

async function findServer(db: Db, id: string): Promise<IncomingServerRow> {
  const row = await db.select().from(incomingServers).where(eq(incomingServers.id, id)).get();
  if (!row) throw notFound(`incoming server ${id}`);
  return row;
}

export const incomingServersApi = router();

incomingServersApi.openapi(
  createRoute({
    method: "post",
    path: "/incoming-servers",
    tags: ["incoming servers"],
    summary: "Add a mailbox to fetch (IMAP or POP3)",
    security,
    request: { body: jsonBody(CreateServerBody) },
    responses: { 201: json(ServerSchema, "Created (credentials are not returned)"), ...errorResponses, ...unprocessableResponse },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const credentials = credentialsFrom(body);
    if (!credentials) throw new ApiError("invalid_request", "invalid body: password: required (or oauth)");
    const settings: Settings = {
      protocol: body.protocol,
      host: body.host,
      port: body.port ?? defaultPort(body.protocol, body.security),
      security: body.security,
      folder: body.folder ?? "INBOX",
      deliverTo: body.deliver_to,
    };
    await checkSettings(c.env, c.get("db"), settings);
    const now = c.get("clock")();
    const [row] = await c
      .get("db")
      .insert(incomingServers)
      .values({
        id: newId("inc"),
        name: body.name,
        username: body.username,
        ...settings,
        enabled: body.enabled ?? true,
        secrets: await sealCredentials(c.env, credentials),
        createdAt: new Date(now),
        updatedAt: new Date(now),
      })
      .returning();
    return c.json(await serverOut(c.env, row!, now), 201);
  },
);

incomingServersApi.openapi(
  createRoute({
    method: "get",
    path: "/incoming-servers",
    tags: ["incoming servers"],
    summary: "List incoming servers",
    security,
    responses: { 200: json(z.object({ items: z.array(ServerSchema), next_cursor: z.null() }), "Incoming servers"), ...errorResponses },
  }),
  async (c) => {
    const rows = await c.get("db").select().from(incomingServers).orderBy(asc(incomingServers.id));
    const now = c.get("clock")();
    return c.json({ items: await Promise.all(rows.map((r) => serverOut(c.env, r, now))), next_cursor: null }, 200);
  },
);

incomingServersApi.openapi(
  createRoute({
    method: "get",
    path: "/incoming-servers/{id}",
    tags: ["incoming servers"],
    summary: "Get an incoming server and its fetch status",
    security,
    request: { params: IdParam },
    responses: { 200: json(ServerSchema, "The server"), ...errorResponses },
  }),
  async (c) => c.json(await serverOut(c.env, await findServer(c.get("db"), c.req.valid("param").id), c.get("clock")()), 200),
);

incomingServersApi.openapi(
  createRoute({
    method: "patch",
    path: "/incoming-servers/{id}",
    tags: ["incoming servers"],
    summary: "Change an incoming server",
    security,
    request: { params: IdParam, body: jsonBody(PatchServerBody) },
    responses: { 200: json(ServerSchema, "Updated"), ...errorResponses, ...unprocessableResponse },
  }),
  async (c) => {
    const db = c.get("db");
    const current = await findServer(db, c.req.valid("param").id);
    const body = c.req.valid("json");
    const protocol = body.protocol ?? current.protocol;
    const security = body.security ?? current.security;
    const settings: Settings = {
      protocol,
      host: body.host ?? current.host,
      // A change of protocol or security moves the port to its default unless one is given.
      port: body.port ?? (body.protocol || body.security ? defaultPort(protocol, security) : current.port),
      security,
      folder: body.folder ?? (protocol === "pop3" ? "INBOX" : current.folder),
      deliverTo: body.deliver_to ?? current.deliverTo,
    };
    const username = body.username ?? current.username;
    const given = credentialsFrom(body);
    const moved =
      settings.protocol !== current.protocol ||
      settings.host !== current.host ||
      settings.port !== current.port ||
      settings.security !== current.security ||
      username !== current.username;
    if (moved && !given) {
      throw new ApiError(
        "invalid_request",
        "invalid body: password: required again when protocol, host, port, security or username change (stored credentials are never sent to a new place)",
      );
    }
    await checkSettings(c.env, db, settings);
    const now = c.get("clock")();
    // Another mailbox (server, account or folder): the UIDs and UIDLs noted are not its own, and a POP3 UIDL
    // that happened to match one would be deleted unread. The notes go with the change.
    const elsewhere = moved || settings.folder !== current.folder;
    const update = db
      .update(incomingServers)
      .set({
        ...settings,
        username,
        ...(body.name !== undefined && { name: body.name }),
        ...(body.enabled !== undefined && { enabled: body.enabled }),
        ...(given && { secrets: await sealCredentials(c.env, given) }),
        ...(elsewhere && { uidValidity: null }),
        updatedAt: new Date(now),
      })
      .where(eq(incomingServers.id, current.id))
      .returning();
    const [rows] = elsewhere ? await db.batch([update, db.delete(incomingFetched).where(eq(incomingFetched.serverId, current.id))]) : [await update];
    const row = rows[0];
    if (given || moved) await forgetAccessToken(db, tokenOwner("incoming", current.id));
    return c.json(await serverOut(c.env, row!, now), 200);
  },
);

incomingServersApi.openapi(
  createRoute({
    method: "delete",
    path: "/incoming-servers/{id}",
    tags: ["incoming servers"],
    summary: "Delete an incoming server (the mail it fetched stays)",
    security,
    request: { params: IdParam },
    responses: { 204: { description: "Deleted" }, ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const current = await findServer(db, c.req.valid("param").id);
    await db.delete(incomingServers).where(eq(incomingServers.id, current.id));
    await forgetAccessToken(db, tokenOwner("incoming", current.id));
    return c.body(null, 204);
  },
);

const TestResult = z
  .union([
    z.object({
      ok: z.literal(true),
      count: z.number().int(),
      unseen: z.number().int().openapi({ description: "IMAP: UNSEEN in the folder; POP3: every message (what is fetched is deleted)" }),
    }),
    z.object({ ok: z.literal(false), error: z.string().openapi({ description: "The cause, naming the step (connect, TLS, login, folder); never a credential" }) }),
  ])
  .openapi("IncomingServerTest");

incomingServersApi.openapi(
  createRoute({
    method: "post",
    path: "/incoming-servers/{id}/test",
    tags: ["incoming servers"],
    summary: "Connect, log in and open the folder, changing nothing",
    security,
    request: { params: IdParam },
    responses: { 200: json(TestResult, "What the server said"), ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const server = await findServer(db, c.req.valid("param").id);
    try {
      const { mailbox } = await openMailbox(c.env, db, server, c.get("clock")(), true);
      try {
        const counts = await mailbox.counts();
        return c.json({ ok: true as const, ...counts }, 200);
      } finally {
        await mailbox.close().catch(() => {});
      }
    } catch (error) {
      return c.json({ ok: false as const, error: mailboxErrorText(error) }, 200);
    }
  },
);

incomingServersApi.openapi(
  createRoute({
    method: "post",
    path: "/incoming-servers/{id}/fetch",
    tags: ["incoming servers"],
    summary: "Fetch now (in the background: the server's status shows progress)",
    security,
    request: { params: IdParam },
    responses: { 202: json(z.object({ queued: z.boolean() }), "Asked for; false: the queue did not take it, the next cron run fetches"), ...errorResponses, ...conflictResponse },
  }),
  async (c) => {
    const db = c.get("db");
    const server = await findServer(db, c.req.valid("param").id);
    if (!server.enabled) throw new ApiError("conflict", `incoming server ${server.id} is disabled (PATCH enabled: true first)`);
    await db
      .update(incomingServers)
      .set({ fetchRequestedAt: new Date(c.get("clock")()) })
      .where(eq(incomingServers.id, server.id));
    const queued = await enqueue(c.env, [{ kind: "fetch", id: server.id }]);
    return c.json({ queued }, 202);
  },
);
