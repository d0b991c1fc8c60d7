/**
 * The console reads and writes through the HTTP API itself, in-process: a
 * `Request` to the API's own `fetch` with the admin token as its bearer,
 * built here on the server (the token never reaches the browser, a page or
 * a URL). So the console shows exactly what the API says, is refused what
 * the API refuses, and needs no second data layer.
 */
import { type ConsoleContext, ConsoleError } from "./session";

/** What the API answered: its status and its body (JSON parsed; text otherwise). */
export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
}

/** The API's error shape, `{ error: { code, message } }`. */
export interface ApiErrorBody {
  error: { code: string; message: string };
}

/** The raw Response of an API call: for what is not JSON (a raw message to pass on). */
export function apiFetch(c: ConsoleContext, method: string, path: string, body?: unknown): Promise<Response> {
  if (!path.startsWith("/v1/")) throw new Error(`apiFetch: ${path} is not an API path`);
  const headers = new Headers({ Authorization: `Bearer ${c.env.ADMIN_TOKEN}`, Accept: "application/json" });
  let payload: string | undefined;
  if (body !== undefined) {
    headers.set("Content-Type", "application/json");
    payload = JSON.stringify(body);
  }
  return c.get("api")(new Request(new URL(path, c.req.url), { method, headers, body: payload }));
}

/** Calls the API: `{ status, body }`, whatever the status (the page decides what to show). */
// biome-ignore lint/suspicious/noExplicitAny: the API's JSON, typed by the page that reads it
export async function apiCall<T = any>(c: ConsoleContext, method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
  const response = await apiFetch(c, method, path, body);
  const text = await response.text();
  const parsed = response.headers.get("Content-Type")?.includes("json") && text ? JSON.parse(text) : text;
  return { status: response.status, body: parsed as T };
}

/** The API's error message of a failed answer, for a `Refusal`. */
export function apiMessage(answer: ApiAnswer<unknown>): string {
  const body = answer.body as Partial<ApiErrorBody> | string;
  if (typeof body === "object" && body?.error?.message) return body.error.message;
  return `the API answered ${answer.status}`;
}

/** Calls the API and returns its body, or throws a `ConsoleError` the console shows as a page (404 stays 404). */
// biome-ignore lint/suspicious/noExplicitAny: the API's JSON, typed by the page that reads it
export async function apiGet<T = any>(c: ConsoleContext, path: string): Promise<T> {
  const answer = await apiCall<T>(c, "GET", path);
  if (answer.status >= 200 && answer.status < 300) return answer.body;
  throw new ConsoleError(answer.status === 404 ? 404 : answer.status >= 500 ? 502 : 400, apiMessage(answer));
}

/** A query string from the values given (empty ones left out), with its `?`, or "". */
export function query(values: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
}
