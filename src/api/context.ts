import { OpenAPIHono } from "@hono/zod-openapi";
import type { ZodError } from "zod";
import type { Clock } from "../clock";
import type { Db } from "../db/client";
import type { Env } from "../env";
import { errorBody } from "./errors";

/** Who is calling: the admin token (everything), or an API key (sending, and reading the messages it sent). */
export type Principal = { kind: "admin" } | { kind: "key"; id: string; fromDomains: string[] | null };

/** What every handler has: the bindings, the database, the clock the Worker was built with, and the caller. */
export type AppEnv = { Bindings: Env; Variables: { db: Db; clock: Clock; principal: Principal } };

/** `path.to.field: what is wrong`, one per issue, so a client can see every problem at once. */
export function describeZodError(error: ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join(".");
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
}

/** A router whose validation failures answer 400 in the API's error shape. */
export function router() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const where = result.target === "json" ? "body" : result.target;
        return c.json(errorBody("invalid_request", `invalid ${where}: ${describeZodError(result.error)}`), 400);
      }
    },
  });
}
