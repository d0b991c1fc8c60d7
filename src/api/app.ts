/**
 * The HTTP API (Hono with zod-openapi): admin-token auth, JSON errors in
 * one place, the OpenAPI document at `/v1/openapi.json`.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { Clock } from "../clock";
import { createConsole, executionCtxOf } from "../console/app";
import { database } from "../db/client";
import { D1_LIMIT_BYTES, sizeAfter, usageWarnings } from "../usage";
import { aliasesApi } from "./aliases";
import { allowedSendersApi } from "./allowed-senders";
import { authenticate, restrictKeys } from "./auth";
import { contactsApi } from "./contacts";
import { router } from "./context";
import { domainCheckApi } from "./domain-check";
import { domainsApi } from "./domains";
import { ApiError, errorBody } from "./errors";
import { eventHooksApi } from "./event-hooks";
import { filesApi } from "./files";
import { hooksApi } from "./hooks";
import { incomingServersApi } from "./incoming-servers";
import { keysApi } from "./keys";
import { messagesApi } from "./messages";
import { overviewApi } from "./overview";
import { relaysApi } from "./relays";
import { routeTestApi } from "./route-test";
import { json } from "./schemas";
import { sendApi } from "./send";
import { settingsApi } from "./settings";
import { suppressionsApi } from "./suppressions";
import { threadsApi } from "./threads";
import { unsubscribeApi } from "./unsubscribe";
import { usageApi } from "./usage";

const MAX_JSON_BYTES = 1024 * 1024;
const MAX_HOOK_BYTES = 5 * 1024 * 1024;
/** route-test and the send API carry whole messages (up to the relays' 40 MB), base64 or JSON-escaped. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Paths the API owns: an unknown one answers the API's JSON 404, never a console page. */
function isApiPath(path: string): boolean {
  return /^\/(?:v1|hooks|files|unsubscribe)(?:\/|$)/.test(path) || path === "/health";
}

/** The API, reading the time from `clock` (src/worker.ts builds it with the Worker's clock). */
export function createApp(clock: Clock) {
  const app = router();
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "The admin token, or an API key (sending and its own messages only)",
  });

  app.use("*", async function withDatabase(c, next) {
    c.set("db", database(c.env.DB));
    c.set("clock", clock);
    await next();
  });

  // One `select 1`, nothing else: D1 answers, and its result's `meta.size_after` is the
  // database's size, checked against 80 % of D1's limit (src/usage.ts). The projection of
  // when D1 fills needs message counts, so it is in GET /v1/usage only.
  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      tags: ["health"],
      summary: "Liveness, whether D1 answers, and whether D1 is nearly full",
      responses: {
        200: json(
          z.object({
            status: z.literal("ok"),
            warnings: z.array(z.string()).openapi({ description: "Empty when all is well; D1 past 80 % of its size limit says so here (still `ok`)" }),
          }),
          "Healthy",
        ),
        503: json(z.object({ status: z.literal("error") }), "D1 does not answer"),
      },
    }),
    async (c) => {
      try {
        const result = await c.get("db").run(sql`select 1`);
        const bytes = sizeAfter(result);
        const warnings = bytes === null ? [] : usageWarnings(bytes, D1_LIMIT_BYTES, null, c.get("clock")());
        for (const warning of warnings) console.warn(`mailgate: ${warning}`);
        return c.json({ status: "ok" as const, warnings }, 200);
      } catch (error) {
        console.error("mailgate: health check failed", String(error));
        return c.json({ status: "error" as const }, 503);
      }
    },
  );

  app.doc31("/v1/openapi.json", {
    openapi: "3.1.0",
    info: { title: "mailgate", version: "1", description: "Mail gateway on Cloudflare Workers with Odoo's routing semantics" },
  });

  // Signed links from webhook payloads: the signature is the authorization.
  app.route("/", filesApi);
  // Providers' event webhooks: each verified by its provider's own scheme; a batch of events is at most a few megabytes.
  app.use(
    "/hooks/*",
    bodyLimit({
      maxSize: MAX_HOOK_BYTES,
      onError: () => {
        throw new ApiError("payload_too_large", `request body over ${MAX_HOOK_BYTES} bytes`);
      },
    }),
  );
  app.route("/", hooksApi);
  // List-Unsubscribe links (RFC 8058): the signed token is the authorization.
  app.route("/", unsubscribeApi);

  const isPublic = (path: string) => path === "/v1/openapi.json";
  app.use("/v1/*", (c, next) => (isPublic(c.req.path) ? next() : authenticate(c, next)));
  app.use("/v1/*", (c, next) => (isPublic(c.req.path) ? next() : restrictKeys(c, next)));
  const tooLarge = (max: number) => () => {
    throw new ApiError("payload_too_large", `request body over ${max} bytes`);
  };
  const carriesMessage = (path: string) => path === "/v1/route-test" || path === "/v1/messages";
  app.use("/v1/*", async function limitBody(c, next) {
    const max = carriesMessage(c.req.path) ? MAX_MESSAGE_BYTES : MAX_JSON_BYTES;
    return bodyLimit({ maxSize: max, onError: tooLarge(max) })(c, next);
  });

  const apis = [
    domainsApi,
    domainCheckApi,
    aliasesApi,
    settingsApi,
    allowedSendersApi,
    contactsApi,
    suppressionsApi,
    threadsApi,
    messagesApi,
    sendApi,
    routeTestApi,
    relaysApi,
    incomingServersApi,
    keysApi,
    eventHooksApi,
    usageApi,
    overviewApi,
  ];
  for (const api of apis) app.route("/v1", api);

  // Every other path is the console's (src/console/app.tsx): its pages, its assets, its own HTML 404.
  const consoleApp = createConsole(clock, app);
  app.notFound((c) => {
    if (isApiPath(c.req.path)) return c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404);
    return consoleApp.fetch(c.req.raw, c.env, executionCtxOf(c));
  });
  app.onError((error, c) => {
    if (error instanceof ApiError) return c.json(errorBody(error.code, error.message), error.status);
    if (error instanceof HTTPException) {
      // Thrown by Hono's validators: malformed JSON (400) or a body that is not JSON (415).
      if (error.status === 415) return c.json(errorBody("unsupported_media_type", "send the body as JSON (Content-Type: application/json)"), 415);
      const code = /json/i.test(error.message) ? "invalid_json" : "invalid_request";
      return c.json(errorBody(code, error.message), error.status === 400 ? 400 : error.status);
    }
    console.error("mailgate: unhandled API error", error);
    return c.json(errorBody("internal_error", "internal error"), 500);
  });
  return app;
}
