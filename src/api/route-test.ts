/** `POST /v1/route-test`: what the gateway would decide for a message, with no side effect. */
import { createRoute, z } from "@hono/zod-openapi";
import { type Decision, DecisionSchema } from "../decision";
import { checkVerp, summarize } from "../inbound/bounce";
import { readBounceReport } from "../inbound/bounce-report";
import { lookup } from "../inbound/lookup";
import { readInboundMail } from "../inbound/receive";
import { decide, refusalText } from "../inbound/route";
import { router } from "./context";
import { EmailAddress, errorResponses, json, jsonBody, security } from "./schemas";

const HEADER_NAME = /^[!-9;-~]+$/;

const RouteTestBody = z
  .strictObject({
    from: z.string().max(320).openapi({ description: "Envelope sender (MAIL FROM); empty for bounces", example: "mary@example.org" }),
    to: EmailAddress.openapi({ description: "Envelope recipient (RCPT TO)" }),
    raw: z
      .string()
      .max(26 * 1024 * 1024)
      .optional()
      .openapi({ description: "The message, or at least its header block" }),
    headers: z
      .record(z.string().regex(HEADER_NAME, "header names are printable ASCII without ':'"), z.union([z.string(), z.array(z.string())]))
      .optional()
      .openapi({ description: "Header fields, when no raw message is given", example: { From: "Mary <mary@example.org>", To: "sales@example.com", Subject: "Hello" } }),
  })
  .refine((b) => !(b.raw !== undefined && b.headers !== undefined), { message: "give raw or headers, not both" })
  .refine(
    (b) =>
      Object.values(b.headers ?? {})
        .flat()
        .every((v) => !/[\r\n]/.test(v)),
    {
      message: "header values may not contain CR or LF",
      path: ["headers"],
    },
  );

const RouteTestResult = z
  .object({
    decision: DecisionSchema.openapi("RoutingDecision", { description: "What the gateway decides for an inbound message" }),
    smtp: z.object({ action: z.enum(["accept", "reject"]), text: z.string().nullable() }),
  })
  .openapi("RouteTestResult");

function smtpOf(decision: Decision) {
  return decision.outcome === "refused" ? { action: "reject" as const, text: refusalText(decision) } : { action: "accept" as const, text: null };
}

export const routeTestApi = router();

routeTestApi.openapi(
  createRoute({
    method: "post",
    path: "/route-test",
    tags: ["route-test"],
    summary: "Route a message without delivering or recording anything",
    security,
    request: { body: jsonBody(RouteTestBody) },
    responses: { 200: json(RouteTestResult, "The decision, and what the sending server would be told"), ...errorResponses },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const text =
      body.raw ??
      `${Object.entries(body.headers ?? {})
        .flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${name}: ${v}\r\n`))
        .join("")}\r\n`;
    const bytes = new TextEncoder().encode(text);
    const { mail } = await readInboundMail({ raw: new Response(bytes).body!, from: body.from, to: body.to, rawSize: bytes.byteLength });
    const { data } = await lookup(c.get("db"), mail, c.get("clock")(), c.env.SECRETS_KEY);
    let decision = decide(mail, data);
    // A bounce given whole is read too, as email() would read it (without acting on it).
    if (decision.outcome === "accepted" && decision.reason === "bounce" && body.raw !== undefined) {
      const { verp } = await checkVerp(c.env.SECRETS_KEY, mail, data.domains);
      decision = { ...decision, bounce: summarize(await readBounceReport(bytes), verp, null) };
    }
    return c.json({ decision, smtp: smtpOf(decision) }, 200);
  },
);
