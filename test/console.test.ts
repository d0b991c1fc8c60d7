/**
 * The console (issue 12): signing in and out, sessions that really end,
 * CSRF, the Content-Security-Policy on every answer, no admin token in any
 * page, and each page rendering from what the API says.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../src/hash";
import deployed from "../src/index";
import { ADMIN_TOKEN, clockedWorker, createAlias, deliver, findMessage, messageIdOf, mime, ok, runScheduled, setupDomain, smtpOutcome, unique, type Worker } from "./helpers";

const ORIGIN = "https://mailgate.test";

interface Page {
  status: number;
  headers: Headers;
  text: string;
}

/** Every body and Set-Cookie the console answered in this file: none may hold the admin token. */
const seen: string[] = [];

async function request(path: string, init: RequestInit & { cookie?: string | null } = {}, worker: Worker = deployed): Promise<Page> {
  const headers = new Headers(init.headers);
  if (init.cookie) headers.set("Cookie", `mailgate_session=${init.cookie}`);
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`${ORIGIN}${path}`, { ...init, headers, redirect: "manual" }), env, ctx);
  await waitOnExecutionContext(ctx);
  const text = new TextDecoder().decode(await response.arrayBuffer());
  seen.push(text, response.headers.get("Set-Cookie") ?? "", response.headers.get("Location") ?? "");
  return { status: response.status, headers: response.headers, text };
}

/** A form post as a browser sends it from our own page. */
function post(
  path: string,
  fields: Record<string, string>,
  cookie: string | null,
  headers: Record<string, string> = { Origin: ORIGIN, "Sec-Fetch-Site": "same-origin" },
  worker?: Worker,
) {
  return request(path, { method: "POST", body: new URLSearchParams(fields), headers, cookie }, worker);
}

/** Signs in: the session cookie's value. */
async function signIn(worker?: Worker): Promise<string> {
  const answer = await post("/sign-in", { token: ADMIN_TOKEN }, null, undefined, worker);
  expect(answer.status).toBe(303);
  const cookie = /mailgate_session=([^;]+)/.exec(answer.headers.get("Set-Cookie") ?? "");
  expect(cookie).not.toBeNull();
  return cookie![1]!;
}

/** The CSRF token of a signed-in page's forms. */
function csrfOf(page: Page): string {
  const match = /name="csrf" value="([^"]+)"/.exec(page.text);
  expect(match, "a CSRF field in the page").not.toBeNull();
  return match![1]!;
}

function h1Of(page: Page): string[] {
  return [...page.text.matchAll(/<h1[^>]*>([\s\S]*?)<\/h1>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, "").trim());
}

function expectSecurityHeaders(page: Page) {
  const csp = page.headers.get("Content-Security-Policy") ?? "";
  expect(csp).toContain("default-src 'none'");
  const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? "";
  expect(scriptSrc).toBe("'self'");
  expect(scriptSrc).not.toContain("unsafe-inline");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(page.headers.get("X-Content-Type-Options")).toBe("nosniff");
  expect(page.headers.get("Referrer-Policy")).toBe("no-referrer");
}

describe("signing in", () => {
  it("signed out, / is the sign-in page with one password field", async () => {
    const page = await request("/");
    expect(page.status).toBe(200);
    expect(page.text).toContain('<form method="post" action="/sign-in"');
    expect(page.text).toMatch(/<label for="token">Admin token<\/label>/);
    expect(page.text).toMatch(/<input type="password" id="token" name="token"/);
    expect(page.text).toContain("Sign in</button>");
    expectSecurityHeaders(page);
    expect(page.headers.get("Cache-Control")).toBe("no-store");
  });

  it("a wrong token is refused visibly, with no session", async () => {
    const page = await post("/sign-in", { token: "not-the-token" }, null);
    expect(page.status).toBe(401);
    expect(page.text).toContain('<p role="alert">That is not the admin token.</p>');
    expect(page.headers.get("Set-Cookie")).toBeNull();
    expectSecurityHeaders(page);
    expect((await post("/sign-in", {}, null)).status).toBe(401);
  });

  it("the right token becomes a session cookie (HttpOnly, Secure, SameSite=Strict, 12 h), never the token itself", async () => {
    const answer = await post("/sign-in", { token: ADMIN_TOKEN }, null);
    expect(answer.status).toBe(303);
    expect(answer.headers.get("Location")).toBe("/");
    const cookie = answer.headers.get("Set-Cookie")!;
    expect(cookie).toMatch(/^mailgate_session=[A-Za-z0-9_-]{43};/);
    for (const flag of ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=43200"]) expect(cookie).toContain(flag);
    expect(cookie).not.toContain(ADMIN_TOKEN);
    const value = /mailgate_session=([^;]+)/.exec(cookie)![1]!;
    // The table keeps the secret's hash only: the cookie's value is nowhere in D1.
    const rows = await env.DB.prepare("select id from console_sessions").all<{ id: string }>();
    expect(rows.results.some((r) => r.id === value)).toBe(false);
    const overview = await request("/", { cookie: value });
    expect(overview.status).toBe(200);
    expect(h1Of(overview)).toEqual(["Overview"]);
  });

  it("a browser's own form post passes: Origin null (our no-referrer policy) with Sec-Fetch-Site same-origin", async () => {
    const page = await post("/sign-in", { token: ADMIN_TOKEN }, null, { Origin: "null", "Sec-Fetch-Site": "same-origin" });
    expect(page.status).toBe(303);
    expect((await post("/sign-in", { token: ADMIN_TOKEN }, null, { Origin: "null", "Sec-Fetch-Site": "cross-site" })).status).toBe(403);
    expect((await post("/sign-in", { token: ADMIN_TOKEN }, null, { Origin: ORIGIN, "Sec-Fetch-Site": "same-site" })).status).toBe(403);
  });

  it("a sign-in posted from another site is refused before the token is looked at", async () => {
    const page = await post("/sign-in", { token: ADMIN_TOKEN }, null, { Origin: "https://evil.example" });
    expect(page.status).toBe(403);
    expect(page.headers.get("Set-Cookie")).toBeNull();
  });

  it("without a session, a page redirects to the sign-in page, and a form post is refused", async () => {
    const page = await request("/messages");
    expect(page.status).toBe(303);
    expect(page.headers.get("Location")).toBe("/");
    expect((await request("/messages", { cookie: "A".repeat(43) })).status).toBe(303);
    expect((await post("/sign-out", { csrf: "x" }, null)).status).toBe(403);
  });
});

describe("sessions and CSRF", () => {
  it("a form post needs the session's CSRF field and our origin", async () => {
    const cookie = await signIn();
    const page = await request("/", { cookie });
    const csrf = csrfOf(page);
    expect(csrf).toMatch(/^[0-9a-f]{64}$/);
    // No field, a wrong one, a foreign Origin, a cross-site fetch: all refused, the session still alive.
    expect((await post("/sign-out", {}, cookie)).status).toBe(403);
    expect((await post("/sign-out", { csrf: "0".repeat(64) }, cookie)).status).toBe(403);
    expect((await post("/sign-out", { csrf }, cookie, { Origin: "https://evil.example" })).status).toBe(403);
    expect((await post("/sign-out", { csrf }, cookie, { "Sec-Fetch-Site": "cross-site" })).status).toBe(403);
    expect((await request("/", { cookie })).status).toBe(200);
  });

  it("signing out ends the session: the old cookie no longer works", async () => {
    const cookie = await signIn();
    const csrf = csrfOf(await request("/", { cookie }));
    const out = await post("/sign-out", { csrf }, cookie);
    expect(out.status).toBe(303);
    expect(out.headers.get("Location")).toBe("/");
    expect(out.headers.get("Set-Cookie")).toMatch(/mailgate_session=;.*Max-Age=0/);
    const after = await request("/", { cookie });
    expect(after.text).toContain('action="/sign-in"');
    expect((await request("/messages", { cookie })).status).toBe(303);
  });

  it("a session ends by itself after 12 hours", async () => {
    const { worker, clock } = clockedWorker();
    const cookie = await signIn(worker);
    expect((await request("/messages", { cookie }, worker)).status).toBe(200);
    clock.advance(12 * 3600_000 + 1000);
    expect((await request("/messages", { cookie }, worker)).status).toBe(303);
    // The scheduled handler sweeps the expired row.
    const id = await sha256Hex(cookie);
    expect(await env.DB.prepare("select 1 from console_sessions where id = ?").bind(id).first()).not.toBeNull();
    await runScheduled({ worker, clock });
    expect(await env.DB.prepare("select 1 from console_sessions where id = ?").bind(id).first()).toBeNull();
  });
});

/** A client address of its own for each throttle test (the throttle counts per CF-Connecting-IP). */
let lastOctets = Math.floor(Math.random() * 60_000);
function freshIp(): string {
  lastOctets += 1;
  return `198.18.${Math.floor(lastOctets / 250) % 250}.${(lastOctets % 250) + 1}`;
}

/** A sign-in from `ip` (none: the shared local bucket), as a browser posts it from our page. */
function signInFrom(ip: string | null, token: string, worker?: Worker) {
  const headers: Record<string, string> = { Origin: ORIGIN, "Sec-Fetch-Site": "same-origin" };
  if (ip) headers["CF-Connecting-IP"] = ip;
  return post("/sign-in", { token }, null, headers, worker);
}

async function failuresOf(client: string): Promise<{ window_start: number; count: number } | null> {
  return env.DB.prepare("select window_start, count from console_sign_in_failures where client = ?").bind(client).first();
}

/** A 429: the sign-in page with the visible refusal, Retry-After in seconds (at most `max`), no session. */
function expectThrottled(page: Page, max = 900): number {
  expect(page.status).toBe(429);
  const after = Number(page.headers.get("Retry-After"));
  expect(after).toBeGreaterThan(0);
  expect(after).toBeLessThanOrEqual(max);
  expect(page.text).toMatch(/<p role="alert">Too many failed sign-ins from your address: wait \d+ minutes? before you try again\.<\/p>/);
  expect(page.text).toContain('<form method="post" action="/sign-in"');
  expect(page.text).not.toContain("That is not the admin token.");
  expect(page.headers.get("Set-Cookie")).toBeNull();
  expectSecurityHeaders(page);
  return after;
}

describe("failed sign-ins are throttled per client address", () => {
  it("5 wrong tokens are 401; then even the right one is 429 for 15 minutes; after that it works and clears the count", async () => {
    const { worker, clock } = clockedWorker();
    const ip = freshIp();
    for (let i = 0; i < 5; i++) expect((await signInFrom(ip, `wrong-${i}`, worker)).status).toBe(401);
    const sixth = await signInFrom(ip, "wrong-6", worker);
    expectThrottled(sixth);
    expect(sixth.text).toContain("wait 15 minutes");
    expectThrottled(await signInFrom(ip, ADMIN_TOKEN, worker));
    // D1 holds the address and a count, never a token tried.
    const row = await env.DB.prepare("select * from console_sign_in_failures where client = ?").bind(ip).first();
    expect(Object.keys(row!).sort()).toEqual(["client", "count", "window_start"]);
    expect(JSON.stringify(row)).not.toMatch(/wrong|test-admin-token/);
    expect(row!.count).toBe(7);

    clock.advance(10 * 60_000);
    const later = await signInFrom(ip, ADMIN_TOKEN, worker);
    expect(expectThrottled(later, 300)).toBeGreaterThan(290);
    expect(later.text).toContain("wait 5 minutes");

    clock.advance(5 * 60_000 + 1000);
    for (let i = 0; i < 3; i++) expect((await signInFrom(ip, `wrong-again-${i}`, worker)).status).toBe(401);
    expect((await signInFrom(ip, ADMIN_TOKEN, worker)).status).toBe(303);
    expect(await failuresOf(ip)).toBeNull();
    // Cleared: five more tries before the next refusal (3 + 5 would be over the limit otherwise).
    for (let i = 0; i < 5; i++) expect((await signInFrom(ip, `wrong-after-${i}`, worker)).status).toBe(401);
    expectThrottled(await signInFrom(ip, "wrong", worker));
  });

  it("each address has its own count (an IPv6 address by its /64); without CF-Connecting-IP, one local bucket", async () => {
    const { worker } = clockedWorker();
    const guesser = freshIp();
    const neighbour = freshIp();
    for (let i = 0; i < 5; i++) expect((await signInFrom(guesser, "wrong", worker)).status).toBe(401);
    expectThrottled(await signInFrom(guesser, ADMIN_TOKEN, worker));
    expect((await signInFrom(neighbour, "wrong", worker)).status).toBe(401);
    expect((await signInFrom(neighbour, ADMIN_TOKEN, worker)).status).toBe(303);

    const subnet = Math.floor(Math.random() * 0xfffe);
    const net = `2001:db8:${(lastOctets % 0xffff).toString(16)}:${subnet.toString(16)}`;
    for (let i = 1; i <= 5; i++) expect((await signInFrom(`${net}::${i}`, "wrong", worker)).status).toBe(401);
    expectThrottled(await signInFrom(`${net}:0:0:0:99`, ADMIN_TOKEN, worker));
    expect((await failuresOf(`${net}::/64`))?.count).toBe(6);
    expect((await signInFrom(`2001:db8:${(lastOctets % 0xffff).toString(16)}:${(subnet + 1).toString(16)}::1`, ADMIN_TOKEN, worker)).status).toBe(303);

    expect((await signInFrom(null, "wrong", worker)).status).toBe(401);
    expect((await failuresOf("local"))?.count).toBeGreaterThanOrEqual(1);
    expect((await signInFrom(null, ADMIN_TOKEN, worker)).status).toBe(303);
    expect(await failuresOf("local")).toBeNull();
  });

  it("10 concurrent wrong attempts are all counted: only 5 reach the token comparison", async () => {
    const { worker } = clockedWorker();
    const ip = freshIp();
    const pages = await Promise.all(Array.from({ length: 10 }, (_, i) => signInFrom(ip, `wrong-${i}`, worker)));
    const statuses = pages.map((p) => p.status).sort();
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
    expect((await failuresOf(ip))?.count).toBe(10);
    expectThrottled(await signInFrom(ip, ADMIN_TOKEN, worker));
  });

  it("counts whose window is over are swept with the expired sessions", async () => {
    const { worker, clock } = clockedWorker();
    const ip = freshIp();
    expect((await signInFrom(ip, "wrong", worker)).status).toBe(401);
    await runScheduled({ worker, clock });
    expect((await failuresOf(ip))?.count).toBe(1);
    clock.advance(15 * 60_000 + 1000);
    await runScheduled({ worker, clock });
    expect(await failuresOf(ip)).toBeNull();
  });
});

describe("assets and errors", () => {
  it("the favicon and the stylesheet answer, with the security headers", async () => {
    for (const path of ["/favicon.ico", "/favicon.svg"]) {
      const icon = await request(path);
      expect(icon.status).toBe(200);
      expect(icon.headers.get("Content-Type")).toBe("image/svg+xml");
      expectSecurityHeaders(icon);
    }
    const signIn = await request("/");
    const href = /<link rel="stylesheet" href="([^"]+)"/.exec(signIn.text)![1]!;
    const css = await request(href);
    expect(css.status).toBe(200);
    expect(css.headers.get("Content-Type")).toContain("text/css");
    expect(css.headers.get("Cache-Control")).toContain("immutable");
  });

  it("an unknown console path is an HTML 404, signed in or not; an unknown API path stays JSON", async () => {
    const out = await request("/no-such-page");
    expect(out.status).toBe(404);
    expect(out.headers.get("Content-Type")).toContain("text/html");
    expectSecurityHeaders(out);
    const cookie = await signIn();
    const inside = await request("/no-such-page", { cookie });
    expect(inside.status).toBe(404);
    expect(inside.text).toContain("Sign out");
    const apiMiss = await request("/v1/no-such-thing", { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(apiMiss.status).toBe(404);
    expect(apiMiss.headers.get("Content-Type")).toContain("json");
    expect(apiMiss.headers.get("Content-Security-Policy")).toBeNull();
    expect((await request("/health")).status).toBe(200);
  });
});

describe("pages", () => {
  const PAGES: [string, string][] = [
    ["/", "Overview"],
    ["/messages", "Messages"],
    ["/threads", "Threads"],
    ["/domains", "Domains"],
    ["/relays", "Relays"],
    ["/incoming-servers", "Incoming servers"],
    ["/contacts", "Contacts"],
    ["/keys", "API keys"],
    ["/settings", "Settings"],
    ["/route-test", "Route test"],
  ];

  it.each(PAGES)("%s renders with its one <h1>, the nav marking it, and the CSP", async (path, name) => {
    const cookie = await signIn();
    const page = await request(path, { cookie });
    expect(page.status).toBe(200);
    expect(h1Of(page)).toEqual([name]);
    expect(page.text).toMatch(new RegExp(`<a href="${path}" aria-current="page">${name}</a>`));
    expect(page.text).toContain('<nav class="main" aria-label="Main">');
    expect(page.text).not.toMatch(/<script|style=|<style/);
    expectSecurityHeaders(page);
    expect(page.headers.get("Cache-Control")).toBe("no-store");
  });
});

describe("messages, threads and the overview, from real mail", () => {
  it("a refused message's page shows the routing trace with the SMTP refusal text", async () => {
    const domain = await setupDomain();
    const raw = mime({ From: "stranger@example.org", To: `nobody@${domain}`, Subject: `Lost ${unique()}` });
    const result = await deliver({ to: `nobody@${domain}`, raw });
    expect(smtpOutcome(result)).toBe("rejected");
    const message = await findMessage(messageIdOf(raw));
    const cookie = await signIn();

    const list = await request(`/messages?direction=in&status=refused&address=nobody@${domain}`, { cookie });
    expect(list.status).toBe(200);
    expect(list.text).toContain(`href="/messages/${message.id}"`);
    const other = await request(`/messages?address=${unique("none")}@nowhere.example`, { cookie });
    expect(other.text).not.toContain(`href="/messages/${message.id}"`);
    const today = new Date().toISOString().slice(0, 10);
    expect((await request(`/messages?date=${today}&address=${domain}`, { cookie })).text).toContain(`href="/messages/${message.id}"`);
    expect((await request(`/messages?date=2001-01-01&address=${domain}`, { cookie })).text).not.toContain(`href="/messages/${message.id}"`);

    const page = await request(`/messages/${message.id}`, { cookie });
    expect(page.status).toBe(200);
    expect(h1Of(page)).toEqual([message.subject]);
    expect(page.text).toContain("Routing trace</h2>");
    const refusal = `Refused: There is no mailbox or alias for nobody@${domain} here. Please check the address.`;
    expect(result.rejected).toBe(refusal.slice("Refused: ".length));
    expect(page.text).toContain(`<li class="bad">${refusal}</li>`);
    expect(page.text).toContain("Deliveries</h2>");
    expect(page.text).toContain("Events</h2>");
    // Refused mail keeps no raw copy and has nothing to redeliver.
    expect(page.text).not.toContain("Redeliver</button>");
    expect((await request("/messages/msg_nothing", { cookie })).status).toBe(404);
  });

  it("a stored message: raw download through the session, redeliver through the console, and its thread as a chatter", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: "help", domain, followers: [{ email: "watcher@example.org", name: "Watcher" }] });
    const subject = `Printer ${unique()}`;
    const raw = mime({ From: "Client <client@example.org>", To: `help@${domain}`, Subject: subject });
    expect(smtpOutcome(await deliver({ to: `help@${domain}`, raw }))).toBe("accepted");
    const message = await findMessage(messageIdOf(raw));
    expect(message.deliveries.some((d: any) => d.type === "notify")).toBe(true);
    const cookie = await signIn();

    const page = await request(`/messages/${message.id}`, { cookie });
    expect(page.text).toContain(`Matched the alias help@${domain} (${alias.id}): into thread ${message.thread_id}.`);
    expect(page.text).toContain(`href="/messages/${message.id}/raw"`);
    expect(page.text).toContain("Download raw message</a>");
    expect(page.text).toContain("Redeliver</button>");

    const download = await request(`/messages/${message.id}/raw`, { cookie });
    expect(download.status).toBe(200);
    expect(download.headers.get("Content-Type")).toContain("message/rfc822");
    expect(download.text).toContain(`Subject: ${subject}`);
    expect((await request(`/messages/${message.id}/raw`)).status).toBe(303);

    // Redeliver: without the CSRF field refused; with it, a new notify delivery that names the first.
    expect((await post(`/messages/${message.id}/redeliver`, { types: "notify" }, cookie)).status).toBe(403);
    const csrf = csrfOf(page);
    const done = await post(`/messages/${message.id}/redeliver`, { csrf, types: "notify" }, cookie);
    expect(done.status).toBe(303);
    expect(done.headers.get("Location")).toBe(`/messages/${message.id}?redelivered=1`);
    const after = await ok("GET", `/v1/messages/${message.id}`);
    expect(after.deliveries.filter((d: any) => d.type === "notify" && d.redelivery_of !== null)).toHaveLength(1);
    expect((await request(done.headers.get("Location")!, { cookie })).text).toContain("Redelivery queued: 1 new delivery.");

    // The thread: its chatter, and followers added and removed through the console.
    const threadId = message.thread_id;
    const threadPage = await request(`/threads/${threadId}`, { cookie });
    expect(threadPage.status).toBe(200);
    expect(h1Of(threadPage)).toEqual([subject]);
    expect(threadPage.text).toContain(`href="/messages/${message.id}"`);
    expect(threadPage.text).toContain("Watcher &lt;watcher@example.org&gt;");
    expect((await request("/threads", { cookie })).text).toContain(`href="/threads/${threadId}"`);

    const added = await post(`/threads/${threadId}/followers`, { csrf, email: "new.follower@example.org", name: "New" }, cookie);
    expect(added.status).toBe(303);
    expect((await ok("GET", `/v1/threads/${threadId}`)).followers.map((f: any) => f.email)).toContain("new.follower@example.org");
    const own = await post(`/threads/${threadId}/followers`, { csrf, email: `help@${domain}` }, cookie);
    expect(own.status).toBe(422);
    expect(own.text).toMatch(/<p role="alert">.*our own address/);
    const removed = await post(`/threads/${threadId}/followers/remove`, { csrf, email: "new.follower@example.org" }, cookie);
    expect(removed.status).toBe(303);
    expect((await ok("GET", `/v1/threads/${threadId}`)).followers.map((f: any) => f.email)).not.toContain("new.follower@example.org");
    expect((await request("/threads/thr_nothing", { cookie })).status).toBe(404);
  });

  it("the overview counts today's mail by outcome and reason, with accessible SVG charts", async () => {
    const domain = await setupDomain();
    await deliver({ to: `nobody@${domain}`, raw: mime({ From: "x@example.org", To: `nobody@${domain}`, Subject: "x" }) });
    const overview = await ok("GET", "/v1/overview");
    expect(overview.days).toHaveLength(7);
    const today = overview.days.at(-1);
    expect(today.date).toBe(new Date().toISOString().slice(0, 10));
    expect(today.in.by_reason.no_route).toBeGreaterThanOrEqual(1);
    expect(today.in.by_status.refused).toBeGreaterThanOrEqual(1);
    const cookie = await signIn();
    const page = await request("/", { cookie });
    expect(page.text).toMatch(/<svg class="chart"[^>]*role="img"[^>]*aria-labelledby="chart-[^"]+"/);
    expect(page.text).toContain('<title id="chart-refusals-by-reason-last-7-days">Refusals by reason, last 7 days</title>');
    expect(page.text).toContain("no route:");
  });
});

describe("the admin token never reaches a browser", () => {
  it("no page, cookie or redirect of this file held it (this runs last)", () => {
    expect(seen.length).toBeGreaterThan(0);
    for (const text of seen) expect(text).not.toContain(ADMIN_TOKEN);
  });
});
