/**
 * The admin console: HTML pages rendered on the server with Hono's JSX, no
 * client script at all, answered by the same Worker at `/` for every path
 * the API does not answer (src/api/app.ts hands them over). It signs in
 * with the admin token (which becomes a server-side session, never a
 * cookie of its own), sends a strict Content-Security-Policy on every
 * answer, and reads and writes through the HTTP API (src/console/api-client.ts).
 */
import { type Context, Hono, type ExecutionContext as HonoExecutionContext } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Clock } from "../clock";
import { database } from "../db/client";
import type { Env } from "../env";
import { secretsEqual } from "../hash";
import { CONSOLE_CSS, CONSOLE_CSS_URL } from "./assets/css";
import { FAVICON_SVG } from "./assets/favicon";
import { BarePage, Page, render, SignInPage } from "./layout";
import * as contacts from "./pages/contacts";
import * as domains from "./pages/domains";
import * as incomingServers from "./pages/incoming-servers";
import * as keys from "./pages/keys";
import * as messages from "./pages/messages";
import * as overview from "./pages/overview";
import * as relays from "./pages/relays";
import * as routeTest from "./pages/route-test";
import * as settings from "./pages/settings";
import * as threads from "./pages/threads";
import {
  type ConsoleApp,
  type ConsoleContext,
  type ConsoleEnv,
  ConsoleError,
  checkCsrf,
  endSession,
  loadSession,
  requireSession,
  type Session,
  sameOrigin,
  startSession,
} from "./session";
import { clearSignInFailures, clientOf, countSignInAttempt } from "./throttle";

/** Every console answer carries these (pages, assets, the sign-in page, errors). */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The page modules, each adding its routes (src/console/pages/*.tsx). */
const PAGES: { register(app: ConsoleApp): void }[] = [overview, messages, threads, domains, relays, incomingServers, contacts, keys, settings, routeTest];

/** Form posts: a message pasted into the route test can be large; everything else is small. */
const MAX_FORM_BYTES = 1024 * 1024;
const MAX_ROUTE_TEST_BYTES = 64 * 1024 * 1024;

/** What the console needs of the API: its `fetch`, called in-process. */
export interface ApiApp {
  fetch(request: Request, env: Env, executionCtx?: HonoExecutionContext): Response | Promise<Response>;
}

/** The request's ExecutionContext, or undefined when there is none (Hono's getter throws then). */
export function executionCtxOf(c: Context): HonoExecutionContext | undefined {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}

/**
 * Page modules register through this: every GET and POST route they add
 * needs a session first, and every POST the CSRF check too, so no page can
 * forget either.
 */
function guarded(app: ConsoleApp): ConsoleApp {
  return new Proxy(app, {
    get(target, property, receiver) {
      if (property === "get") return (path: string, ...handlers: unknown[]) => (target.get as (...args: unknown[]) => unknown)(path, requireSession, ...handlers);
      if (property === "post") return (path: string, ...handlers: unknown[]) => (target.post as (...args: unknown[]) => unknown)(path, requireSession, checkCsrf, ...handlers);
      if (property === "put" || property === "delete" || property === "patch" || property === "all" || property === "on" || property === "use" || property === "route") {
        throw new Error(`console pages add GET and POST routes only (app.${String(property)})`);
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

function errorPage(c: ConsoleContext, status: 400 | 403 | 404 | 409 | 422 | 500 | 502 | 503, title: string, text: string) {
  const session: Session | null = c.get("signedIn") ?? null;
  const body = (
    <>
      <h1>{title}</h1>
      <p role="alert">{text}</p>
      <p>
        <a href="/">Back to the overview</a>
      </p>
    </>
  );
  return render(
    c,
    session ? (
      <Page title={title} active={null} session={session}>
        {body}
      </Page>
    ) : (
      <BarePage title={title}>{body}</BarePage>
    ),
    status,
  );
}

/** The console app: `api` is the HTTP API it reads through, `clock` the Worker's. */
export function createConsole(clock: Clock, api: ApiApp): ConsoleApp {
  const app: ConsoleApp = new Hono<ConsoleEnv>();

  app.use("*", async function securityHeaders(c, next) {
    await next();
    c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("X-Frame-Options", "DENY");
    c.header("Cross-Origin-Opener-Policy", "same-origin");
    if (!c.res.headers.has("Cache-Control")) c.header("Cache-Control", "no-store");
  });

  // Assets first: they need no database and no session.
  const immutable = "public, max-age=31536000, immutable";
  app.get("/console.css", (c) => {
    c.header("Content-Type", "text/css; charset=utf-8");
    c.header("Cache-Control", c.req.url.endsWith(CONSOLE_CSS_URL.slice(CONSOLE_CSS_URL.indexOf("?"))) ? immutable : "public, max-age=300");
    return c.body(CONSOLE_CSS);
  });
  const favicon = (c: ConsoleContext) => {
    c.header("Content-Type", "image/svg+xml");
    c.header("Cache-Control", "public, max-age=86400");
    return c.body(FAVICON_SVG);
  };
  app.get("/favicon.svg", favicon);
  // Browsers take an SVG answered at /favicon.ico (the Content-Type says what it is).
  app.get("/favicon.ico", favicon);

  app.use("*", async function bindings(c, next) {
    c.set("db", database(c.env.DB));
    c.set("clock", clock);
    c.set("api", (request) => Promise.resolve(api.fetch(request, c.env, executionCtxOf(c))));
    await next();
  });
  app.use("*", loadSession);
  app.post("*", async function limitForm(c, next) {
    const max = c.req.path === "/route-test" ? MAX_ROUTE_TEST_BYTES : MAX_FORM_BYTES;
    return bodyLimit({
      maxSize: max,
      onError: () => {
        throw new ConsoleError(400, `That form is larger than ${max / 1024 / 1024} MB.`);
      },
    })(c, next);
  });

  // Signed out, `/` is the sign-in page; signed in, the overview (pages/overview.tsx).
  app.get("/", async (c, next) => (c.get("signedIn") ? next() : render(c, <SignInPage />)));

  app.post("/sign-in", async (c) => {
    // A sign-in from another site (login CSRF) is refused before the token is looked at.
    if (!sameOrigin(c)) throw new ConsoleError(403, "This form did not come from this console.");
    // Counted before the token is looked at: past the limit, the token is not compared at all (src/console/throttle.ts).
    const client = clientOf(c.req.header("CF-Connecting-IP"));
    const attempt = await countSignInAttempt(c.get("db"), client, c.get("clock")());
    if (!attempt.allowed) {
      c.header("Retry-After", String(attempt.retryAfter));
      return render(c, <SignInPage waitSeconds={attempt.retryAfter} />, 429);
    }
    const form = await c.req.parseBody();
    const token = typeof form.token === "string" ? form.token : "";
    const expected = c.env.ADMIN_TOKEN;
    if (!expected || !token || !(await secretsEqual(token, expected))) return render(c, <SignInPage refused />, 401);
    await clearSignInFailures(c.get("db"), client);
    await startSession(c);
    return c.redirect("/", 303);
  });

  app.post("/sign-out", requireSession, checkCsrf, async (c) => {
    await endSession(c, c.get("session"));
    return c.redirect("/", 303);
  });

  const pages = guarded(app);
  for (const page of PAGES) page.register(pages);

  app.notFound((c) => errorPage(c, 404, "Not found", "There is no page here."));
  app.onError((error, c) => {
    if (error instanceof ConsoleError) {
      const title = error.status === 404 ? "Not found" : error.status === 403 ? "Refused" : error.status >= 500 ? "Something failed" : "Not done";
      return errorPage(c, error.status, title, error.message);
    }
    console.error("mailgate: console error", error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    return errorPage(c, 500, "Something failed", "The console could not show this page. The Worker's log has the details.");
  });
  return app;
}
