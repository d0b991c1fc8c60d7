/** Schemas shared by the API modules, and the pieces every route declares. */
import { z } from "@hono/zod-openapi";
import { checkDomain, DOT_ATOM, normalizeAddress, parseAddressInput } from "../mail/address";

export const ErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).openapi("Error");

/** A JSON response as every route declares it, in the shape createRoute wants. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { content: { "application/json": { schema } }, description };
}

/**
 * A JSON request body. `required: true` makes zod-openapi validate it
 * always: otherwise a request without a Content-Type gets `{}` as its
 * body, unchecked.
 */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { content: { "application/json": { schema } }, required: true };
}

/** Error responses every authenticated route can give. */
export const errorResponses = {
  400: json(ErrorSchema, "Invalid request"),
  401: json(ErrorSchema, "Missing or wrong token"),
  404: json(ErrorSchema, "Not found"),
};

export const conflictResponse = { 409: json(ErrorSchema, "Conflicts with existing data") };
export const unprocessableResponse = { 422: json(ErrorSchema, "Refers to something that does not exist or cannot be used") };

export const security = [{ bearer: [] }];

export const MailboxSchema = z.object({ name: z.string(), address: z.string() }).openapi("Mailbox");

/** One address with its display name, as written (case kept; see src/mail/address.ts). */
export const MailboxInput = z
  .string()
  .max(400)
  .transform((value, ctx) => {
    const checked = parseAddressInput(value);
    if (!checked.ok) {
      ctx.addIssue({ code: "custom", message: `"${value.slice(0, 100)}" is not one e-mail address: ${checked.reason}` });
      return z.NEVER;
    }
    return checked.mailbox;
  })
  .openapi({ type: "string", example: '"Mary Major" <mary@example.com>' });

/**
 * One e-mail address, `a@b` or `"Name" <a@b>`, as its canonical lookup key
 * (contacts, followers, allowed senders...): see src/mail/address.ts.
 */
export const EmailAddress = MailboxInput.transform((mailbox) => normalizeAddress(mailbox.address)!).openapi({ type: "string", example: "mary@example.com" });

/** The message of a schema's first refusal, for a field that checks its parts with it. */
export function firstIssue(error: z.ZodError): string {
  return error.issues[0]?.message ?? "invalid";
}

/** A domain name, lowercased, internationalized names in punycode. */
export const DomainName = z
  .string()
  .min(1)
  .max(253)
  .transform((value, ctx) => {
    const checked = checkDomain(value);
    if (!checked.ok) {
      ctx.addIssue({ code: "custom", message: `"${value.slice(0, 100)}" is not a domain name: ${checked.reason}` });
      return z.NEVER;
    }
    return checked.domain;
  })
  .openapi({ type: "string", example: "example.com" });

/** RFC 5322 dot-atom, as Odoo requires of alias names. */

export const LocalPart = z
  .string()
  .min(1)
  .max(64)
  .transform((value) => value.trim().toLowerCase())
  .refine((value) => DOT_ATOM.test(value), { message: "must be a local part (letters, digits and !#$%&'*+-/=?^_`{|}~, dots between)" });

export const Timestamp = z.string().openapi({ example: "2026-11-21T10:00:00.000Z" });

/** Dates as the API writes them: ISO 8601 in UTC with milliseconds, the form `Timestamp` documents. */
export const iso = (date: Date) => date.toISOString();

/** The body of a signing secret's rotation (aliases' webhooks, event hooks): both secrets sign until the previous one expires. */
export function rotateSecretBody(secret: z.ZodString) {
  return z.strictObject({
    secret: secret.optional().openapi({ description: "The new secret; a random one is made when left out" }),
    previous_valid_seconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .default(24 * 3600)
      .openapi({ description: "How long payloads stay signed with the previous secret too (default one day; 0 drops it at once)" }),
  });
}

/** The answer to a rotation: the new secret, shown this once. */
export function rotatedSecretSchema(name: string) {
  return z
    .object({
      secret: z.string().openapi({ description: "The new secret: shown this once" }),
      previous_expires_at: Timestamp.nullable(),
    })
    .openapi(name);
}
