/** `GET /v1/domains/{name}/check`: DNS and configuration checks of a domain we serve (src/domain-check/). */
import { createRoute, z } from "@hono/zod-openapi";
import { runDomainCheck } from "../domain-check/check";
import { RELAY_TYPES } from "../outbound/relays/settings";
import { router } from "./context";
import { notFound } from "./errors";
import { DomainName, errorResponses, json, security, Timestamp } from "./schemas";

const Status = z.enum(["pass", "warn", "fail"]);

const CheckItemSchema = z
  .object({
    id: z.string().openapi({
      description:
        "Stable: `mx`, `spf`, `dkim_routing`, `dkim:<relay id>`, `return_path:<relay id>`, `dmarc`, `mta_sts`, `tls_rpt` (group dns); `catchall`, `bounce`, `relays`, `relay:<relay id>`, `forward:<address>`, `public_url` (group mailgate)",
      example: "spf",
    }),
    group: z.enum(["dns", "mailgate"]),
    status: Status,
    reason: z.string().openapi({ example: "one SPF record, 3 DNS lookups of 10, ending in ~all" }),
    records: z
      .array(
        z.object({
          type: z.enum(["MX", "TXT", "CNAME"]),
          name: z.string().openapi({ description: "The full name", example: "_dmarc.example.com" }),
          value: z.string().openapi({
            description: "MX: `<priority> <host>`; placeholders in angle brackets stand for what the service shows",
            example: "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com",
          }),
        }),
      )
      .optional()
      .openapi({ description: "What to publish to fix it (items that are not `pass` only)" }),
    lookups: z.number().int().optional().openapi({ description: "`spf`: DNS lookups counted through includes and redirects (RFC 7208: at most 10)" }),
    void_lookups: z.number().int().optional().openapi({ description: "`spf`: includes that found no record" }),
    policy: z.string().nullable().optional().openapi({ description: "`dmarc`: the policy that applies (none, quarantine, reject), null without a valid record" }),
    relay: z.object({ id: z.string(), name: z.string(), type: z.enum(RELAY_TYPES) }).optional(),
    address: z.string().optional().openapi({ description: "`forward:` items: the destination" }),
    aliases: z.array(z.string()).optional().openapi({ description: "`forward:` items: the aliases forwarding there" }),
  })
  .openapi("DomainCheckItem");

const DomainCheckSchema = z
  .object({
    domain: z.string(),
    checked_at: Timestamp,
    summary: z.object({ pass: z.number().int(), warn: z.number().int(), fail: z.number().int() }),
    items: z.array(CheckItemSchema),
  })
  .openapi("DomainCheck");

export const domainCheckApi = router();

domainCheckApi.openapi(
  createRoute({
    method: "get",
    path: "/domains/{name}/check",
    tags: ["domains"],
    summary: "Check a domain's DNS (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT) and mailgate's configuration for it",
    description:
      "Every item is `pass`, `warn` or `fail` with its reason and, when something is missing, the records to publish. DNS is read through DNS-over-HTTPS (the resolver at `DOH_URL`, Cloudflare's by default); a lookup that fails is an item saying so (a `fail` when the domain's name servers fail, a `warn` when the resolver does), never an error.",
    security,
    request: { params: z.object({ name: DomainName.openapi({ param: { name: "name", in: "path" } }) }) },
    responses: { 200: json(DomainCheckSchema, "The check"), ...errorResponses },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const result = await runDomainCheck({ db: c.get("db"), name, now: c.get("clock")(), publicUrl: c.env.PUBLIC_URL ?? null, dohUrl: c.env.DOH_URL ?? null });
    if (!result) throw notFound(`domain ${name}`);
    return c.json(result, 200);
  },
);
