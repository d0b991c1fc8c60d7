/** Schemas shared by the API modules, and the pieces every route declares. */
import { z } from "@hono/zod-openapi";
import { parseSingleAddress } from "../mail/address";

export const ErrorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi("Error");

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { content: { "application/json": { schema } }, description };
}

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

/** One e-mail address, `a@b` or `"Name" <a@b>`; normalized (Odoo's `email_normalize`). */
export const EmailAddress = z
  .string()
  .max(320)
  .transform((value, ctx) => {
    const parsed = parseSingleAddress(value);
    if (!parsed) {
      ctx.addIssue({ code: "custom", message: `"${value}" is not one e-mail address` });
      return z.NEVER;
    }
    return parsed.address;
  })
  .openapi({ type: "string", example: "mary@example.com" });

/** A domain name, lowercased, internationalized names in punycode. */
export const DomainName = z
  .string()
  .min(1)
  .max(253)
  .transform((value, ctx) => {
    const name = normalizeDomain(value);
    if (!name) {
      ctx.addIssue({ code: "custom", message: `"${value}" is not a domain name` });
      return z.NEVER;
    }
    return name;
  })
  .openapi({ type: "string", example: "example.com" });

export function normalizeDomain(value: string): string | null {
  const trimmed = value.trim().toLowerCase().replace(/\.$/, "");
  if (!trimmed || /[\s/@:?#[\]\\]/.test(trimmed)) return null;
  let hostname: string;
  try {
    hostname = new URL(`http://${trimmed}`).hostname;
  } catch {
    return null;
  }
  const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
  const labels = hostname.split(".");
  return labels.length >= 2 && labels.every((l) => label.test(l)) ? hostname : null;
}

/** RFC 5322 dot-atom, as Odoo requires of alias names. */
export const DOT_ATOM = /^[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~]+(\.[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;

export const LocalPart = z
  .string()
  .min(1)
  .max(64)
  .transform((value) => value.trim().toLowerCase())
  .refine((value) => DOT_ATOM.test(value), { message: "must be a local part (letters, digits and !#$%&'*+-/=?^_`{|}~, dots between)" });

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ example: 50 }),
  cursor: z.string().max(400).optional(),
});

export function listOf<T extends z.ZodType>(item: T, name: string) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() }).openapi(name);
}

/** `{ items, next_cursor }` from a page fetched with one row more than the limit. */
export function page<Row, Out>(rows: Row[], limit: number, cursorOf: (row: Row) => string, serialize: (row: Row) => Out) {
  const items = rows.slice(0, limit);
  return { items: items.map(serialize), next_cursor: rows.length > limit ? cursorOf(items[items.length - 1]!) : null };
}

export const Timestamp = z.string().openapi({ example: "2026-11-21T10:00:00.000Z" });

export const iso = (date: Date) => date.toISOString();
