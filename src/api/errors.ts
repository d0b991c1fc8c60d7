/**
 * API errors: thrown anywhere, turned into `{ error: { code, message } }`
 * in exactly one place (`onError` in app.ts).
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";

export type ErrorCode =
  | "invalid_request"
  | "invalid_json"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "unprocessable"
  | "rate_limited"
  | "internal_error";

const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  invalid_request: 400,
  invalid_json: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  rate_limited: 429,
  internal_error: 500,
};

/** Thrown by handlers and helpers anywhere; its code fixes the HTTP status (STATUS above), so no handler picks a status of its own. */
export class ApiError extends Error {
  override name = "ApiError";
  readonly status: ContentfulStatusCode;

  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}

/** The one error shape, `{ error: { code, message } }`: onError, the not-found handler and the validation hook (context.ts) all answer with it. */
export function errorBody(code: ErrorCode, message: string) {
  return { error: { code, message } };
}

/** The 404 of every lookup by id, worded the same everywhere: `thread thr_… not found`. */
export const notFound = (what: string) => new ApiError("not_found", `${what} not found`);
