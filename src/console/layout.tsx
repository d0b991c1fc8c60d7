/**
 * The HTML shell of every console page: the nav, the main landmark, the
 * sign-out form. No inline script or style anywhere (the CSP forbids both):
 * one stylesheet from our origin.
 */
import type { Child } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { CONSOLE_CSS_URL } from "./assets/css";
import { type ConsoleContext, csrfField, type Session } from "./session";

/** The nav, in this order (the browser tests rely on the link texts). */
export const NAV = [
  { href: "/", label: "Overview" },
  { href: "/messages", label: "Messages" },
  { href: "/threads", label: "Threads" },
  { href: "/domains", label: "Domains" },
  { href: "/relays", label: "Relays" },
  { href: "/incoming-servers", label: "Incoming servers" },
  { href: "/contacts", label: "Contacts" },
  { href: "/keys", label: "API keys" },
  { href: "/settings", label: "Settings" },
  { href: "/route-test", label: "Route test" },
] as const;

/** A nav entry's href: which link a page marks as current. */
export type NavHref = (typeof NAV)[number]["href"];

function Head({ title }: { title: string }) {
  return (
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="referrer" content="no-referrer" />
      <title>{`${title} · mailgate`}</title>
      <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
      <link rel="stylesheet" href={CONSOLE_CSS_URL} />
    </head>
  );
}

/** A signed-in page: `active` is the nav entry it belongs to (null: none), `title` the `<title>` (the `<h1>` is the page's own). */
export function Page({ title, active, session, children }: { title: string; active: NavHref | null; session: Session; children?: Child }) {
  return (
    <html lang="en">
      <Head title={title} />
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/">
            <img src="/favicon.svg" alt="" width="22" height="22" />
            mailgate
          </a>
          <nav class="main" aria-label="Main">
            <ul>
              {NAV.map((item) => (
                <li>
                  <a href={item.href} aria-current={item.href === active ? "page" : undefined}>
                    {item.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <form method="post" action="/sign-out">
            {csrfField(session)}
            <button type="submit" class="secondary">
              Sign out
            </button>
          </form>
        </header>
        <main id="main">{children}</main>
      </body>
    </html>
  );
}

/** A page for someone not signed in (the sign-in page, a 404 or an error before signing in): no nav. */
export function BarePage({ title, children }: { title: string; children?: Child }) {
  return (
    <html lang="en">
      <Head title={title} />
      <body>
        <main id="main" class="signin">
          {children}
        </main>
      </body>
    </html>
  );
}

/** How long `seconds` is, in words: whole minutes, rounded up. */
function waitText(seconds: number): string {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  return minutes === 1 ? "1 minute" : `${minutes} minutes`;
}

/**
 * The sign-in page: one password field for the admin token; `refused` after
 * a wrong one; `waitSeconds` when too many failed from this address (the
 * attempt was not even compared).
 */
export function SignInPage({ refused, waitSeconds }: { refused?: boolean; waitSeconds?: number }) {
  return (
    <BarePage title="Sign in">
      <h1>Sign in to mailgate</h1>
      {refused ? <p role="alert">That is not the admin token.</p> : null}
      {waitSeconds !== undefined ? <p role="alert">{`Too many failed sign-ins from your address: wait ${waitText(waitSeconds)} before you try again.`}</p> : null}
      <form method="post" action="/sign-in" class="stack">
        <div class="field">
          <label for="token">Admin token</label>
          <input type="password" id="token" name="token" autocomplete="current-password" required autofocus />
        </div>
        <button type="submit">Sign in</button>
      </form>
      <p class="hint">The session lasts 12 hours; the token itself is never stored in the browser.</p>
    </BarePage>
  );
}

/** Answers a page: the doctype and the rendered JSX, with its status (the security headers are the app's). */
export async function render(c: ConsoleContext, node: { toString(): string | Promise<string> }, status: ContentfulStatusCode = 200): Promise<Response> {
  return c.html(`<!DOCTYPE html>${await node.toString()}`, status);
}
