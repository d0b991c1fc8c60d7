/**
 * The console in a real browser: Debian's chromium, driven by playwright-core (no browser download),
 * against the real Worker under `wrangler dev` (scripts/start.mjs, as the e2e project starts it).
 *
 * Every page a test visits is checked: no console error (a CSP violation or a missing favicon is one),
 * no page error, no failed request and no answer >= 400 but those a step provokes on purpose, and no
 * violation that axe-core rates serious or critical. The flows go through the UI only; the API (with the
 * admin token from .dev.vars) and `/cdn-cgi/local/email` only prepare what a flow needs. The same tests
 * take the README's screenshots (docs/screenshots/<page>.png, written on every run).
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, type ConsoleMessage, chromium, type Locator, type Page } from "playwright-core";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminToken, freePort, type Running, root, start, stop } from "./wrangler-dev.ts";

const state = mkdtempSync(join(tmpdir(), "mailgate-browser-"));
const screenshots = join(root, "docs", "screenshots");
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** The nav, in its order (link text, path). */
const NAV = [
  ["Overview", "/"],
  ["Messages", "/messages"],
  ["Threads", "/threads"],
  ["Domains", "/domains"],
  ["Relays", "/relays"],
  ["Incoming servers", "/incoming-servers"],
  ["Contacts", "/contacts"],
  ["API keys", "/keys"],
  ["Settings", "/settings"],
  ["Route test", "/route-test"],
] as const;

let server: Running;
let browser: Browser;
const contexts: BrowserContext[] = [];

// ---------------------------------------------------------------------------------------------------------
// The loopback SMTP server the test relay points at: it answers like a real server, and refuses gone…@.

interface Received {
  from: string;
  to: string[];
  raw: string;
}
const received: Received[] = [];
let smtp: SMTPServer;
let smtpPort: number;

async function startSmtp() {
  smtpPort = await freePort();
  smtp = new SMTPServer({
    logger: false,
    banner: "mailgate browser test server",
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    smtp.once("error", reject);
    smtp.listen(smtpPort, "127.0.0.1", () => resolve());
  });
}

// ---------------------------------------------------------------------------------------------------------
// A DNS-over-HTTPS resolver on loopback (the JSON API, as Cloudflare's answers it) for the domain check
// (start.mjs passes DOH_URL on): demo.example set up as the README says, so the check has real answers.

const DKIM = `v=DKIM1; k=rsa; p=${generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "der" }).toString("base64")}`;
const CLOUDFLARE_MX = ["13 route1.mx.cloudflare.net.", "86 route2.mx.cloudflare.net.", "24 route3.mx.cloudflare.net."];
const CLOUDFLARE_SPF = "v=spf1 include:_spf.mx.cloudflare.net ~all";
const ZONE: Record<string, { MX?: string[]; TXT?: string[] }> = {
  "demo.example": { MX: CLOUDFLARE_MX, TXT: [CLOUDFLARE_SPF] },
  "cf2024-1._domainkey.demo.example": { TXT: [DKIM] },
  "_dmarc.demo.example": { TXT: ["v=DMARC1; p=reject; rua=mailto:dmarc@demo.example"] },
  "_mta-sts.demo.example": { TXT: ["v=STSv1; id=20260101T000000"] },
  "_smtp._tls.demo.example": { TXT: ["v=TLSRPTv1; rua=mailto:tls@demo.example"] },
  "cf-bounce._domainkey.demo.example": { TXT: [DKIM] },
  "cf-bounce.demo.example": { MX: CLOUDFLARE_MX, TXT: [CLOUDFLARE_SPF] },
  "_spf.mx.cloudflare.net": { TXT: ["v=spf1 ip4:104.30.0.0/19 ~all"] },
  "example.org": { MX: ["10 mx.example.org."] },
};
const TYPES: Record<string, number> = { A: 1, CNAME: 5, MX: 15, TXT: 16, AAAA: 28 };
let doh: Server;

async function startDoh(): Promise<string> {
  doh = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const name = (url.searchParams.get("name") ?? "").toLowerCase().replace(/\.$/, "");
    const type = (url.searchParams.get("type") ?? "A").toUpperCase();
    const exists = Object.keys(ZONE).some((n) => n === name || n.endsWith(`.${name}`));
    const records = ZONE[name]?.[type as "MX" | "TXT"] ?? [];
    // TXT data as quoted character-strings of at most 255 bytes (RFC 1035 5.1).
    const data = (r: string) => (type === "TXT" ? (r.match(/[\s\S]{1,255}/g) ?? []).map((c) => `"${c}"`).join(" ") : r);
    response.writeHead(200, { "Content-Type": "application/dns-json" });
    response.end(
      JSON.stringify({
        Status: exists ? 0 : 3,
        TC: false,
        RD: true,
        RA: true,
        AD: false,
        CD: false,
        Question: [{ name: `${name}.`, type: TYPES[type] ?? 1 }],
        ...(records.length && { Answer: records.map((r) => ({ name: `${name}.`, type: TYPES[type], TTL: 300, data: data(r) })) }),
      }),
    );
  });
  await new Promise<void>((resolve) => doh.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(doh.address() as { port: number }).port}/dns-query`;
}

// ---------------------------------------------------------------------------------------------------------
// Preparing data: the API with the admin token, and mail in as Email Routing hands it over.

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${adminToken()}`, ...(body !== undefined && { "Content-Type": "application/json" }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function ok(method: string, path: string, body?: unknown): Promise<any> {
  const answer = await api(method, path, body);
  expect(answer.status, `${method} ${path}: ${JSON.stringify(answer.body)}`).toBeLessThan(300);
  return answer.body;
}

async function sendIn(from: string, to: string, raw: string) {
  const url = `${server.base}/cdn-cgi/local/email?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&format=json`;
  const response = await fetch(url, { method: "POST", body: raw });
  return (await response.json()) as { outcome: string; rejectReason?: string };
}

function mime(headers: Record<string, string>, body = "Hello from the browser test.\r\n") {
  return `${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n${body}`;
}

let counter = 0;
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}${(counter++).toString(36)}`;

// ---------------------------------------------------------------------------------------------------------
// The page checker.

interface ViolationNode {
  target: unknown[];
  failureSummary?: string;
}
interface Violation {
  id: string;
  impact?: string | null;
  help: string;
  helpUrl: string;
  nodes: ViolationNode[];
}

/**
 * A page whose console errors, page errors, failed requests and error answers are collected from the
 * moment it opens. `provoke` excuses one status for one path while a step provokes it on purpose.
 */
class Checked {
  readonly problems: string[] = [];
  private readonly excused: { status: number; path: string }[] = [];

  constructor(readonly page: Page) {
    page.on("console", (message) => {
      if (message.type() === "error" && !this.excusedMessage(message)) this.problems.push(`console error on ${page.url()}: ${message.text()} ${where(message)}`.trim());
    });
    page.on("pageerror", (error) => this.problems.push(`page error on ${page.url()}: ${error.message}`));
    page.on("requestfailed", (request) => this.problems.push(`request failed: ${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
    page.on("response", (response) => {
      if (response.status() >= 400 && !this.isExcused(response.status(), response.url()))
        this.problems.push(`${response.status()} for ${response.request().method()} ${response.url()}`);
    });
  }

  private isExcused(status: number, url: string) {
    const path = url.startsWith(server.base) ? new URL(url).pathname : url;
    return this.excused.some((e) => e.status === status && e.path === path);
  }

  /** Chromium logs every error answer as "Failed to load resource: … status of 401 …", located at the resource. */
  private excusedMessage(message: ConsoleMessage) {
    const status = /status of (\d{3})/.exec(message.text())?.[1];
    return status !== undefined && this.isExcused(Number(status), message.location().url);
  }

  /** Runs `step`, in which `status` for `path` is expected, then checks the page (inside, so late console lines count). */
  async provoke(status: number, path: string, what: string, step: () => Promise<void>) {
    const excuse = { status, path };
    this.excused.push(excuse);
    try {
      await step();
      await check(this, what);
    } finally {
      this.excused.splice(this.excused.indexOf(excuse), 1);
    }
  }
}

function where(message: ConsoleMessage) {
  const { url, lineNumber } = message.location();
  return url ? `(${url}${lineNumber ? `:${lineNumber}` : ""})` : "";
}

/** axe-core in the page (through the DevTools protocol, so the page's CSP does not stop it, nor is bypassed). */
async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(axeSource);
  const result = (await page.evaluate(() => (window as unknown as { axe: { run(options: object): Promise<unknown> } }).axe.run({ resultTypes: ["violations"] }))) as {
    violations: Violation[];
  };
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.helpUrl})\n${v.nodes.map((n) => `    at ${n.target.join(" ")}: ${n.failureSummary?.replace(/\n\s*/g, " ")}`).join("\n")}`);
}

/** What every page must pass: nothing in the console or the network log, nothing serious for axe. */
async function check(checked: Checked, what: string) {
  await checked.page.waitForLoadState("networkidle");
  const violations = await axeViolations(checked.page);
  expect(checked.problems, `${what} (${checked.page.url()}): console, page or network errors`).toEqual([]);
  expect(violations, `${what} (${checked.page.url()}): axe-core violations, serious or critical`).toEqual([]);
}

async function newContext(viewport = DESKTOP): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport, ...(viewport === PHONE && { isMobile: true, hasTouch: true }) });
  context.setDefaultTimeout(10_000);
  contexts.push(context);
  return context;
}

async function open(context: BrowserContext): Promise<Checked> {
  return new Checked(await context.newPage());
}

/** Goes to `path` and checks the page; `h1`: the page's one heading of level 1. */
async function visit(checked: Checked, path: string, h1?: string) {
  const response = await checked.page.goto(`${server.base}${path}`);
  expect(response?.status(), `GET ${path}`).toBe(200);
  if (h1 !== undefined) await expectH1(checked.page, h1);
  await check(checked, `GET ${path}`);
}

async function expectH1(page: Page, text: string) {
  await page.getByRole("heading", { level: 1, name: text, exact: true }).waitFor();
  expect((await page.locator("h1").allTextContents()).map((t) => t.trim())).toEqual([text]);
}

const nav = (page: Page) => page.getByRole("navigation", { name: "Main" });

/** Follows a nav link and checks the page it leads to: its h1, its link marked current. */
async function follow(checked: Checked, name: string) {
  await nav(checked.page).getByRole("link", { name, exact: true }).click();
  await expectH1(checked.page, name);
  expect(await nav(checked.page).getByRole("link", { name, exact: true }).getAttribute("aria-current")).toBe("page");
  await check(checked, name);
}

/** The `<section>` under an `<h2>` of that name. */
function section(page: Page, h2: string): Locator {
  return page.locator("section").filter({ has: page.getByRole("heading", { level: 2, name: h2, exact: true }) });
}

async function signIn(context: BrowserContext): Promise<Checked> {
  const checked = await open(context);
  await visit(checked, "/");
  await checked.page.getByLabel("Admin token").fill(adminToken());
  await checked.page.getByRole("button", { name: "Sign in" }).click();
  await expectH1(checked.page, "Overview");
  await check(checked, "overview after signing in");
  return checked;
}

async function session(context: BrowserContext) {
  return (await context.cookies(server.base)).find((c) => c.name === "mailgate_session");
}

/** docs/screenshots/<name>.png: the whole page at the context's width. */
async function shoot(page: Page, name: string) {
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true, animations: "disabled" });
}

// ---------------------------------------------------------------------------------------------------------

describe("the console in chromium", () => {
  beforeAll(async () => {
    const dohUrl = await startDoh();
    // Each assigned as it comes, and every one awaited, so that afterAll stops whatever started.
    const started = await Promise.allSettled([
      start(state, { DOH_URL: dohUrl }).then((running) => (server = running)),
      chromium
        .launch({
          executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
          // No internet here: Chromium's own background connections would fail noisily.
          args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        })
        .then((launched) => (browser = launched)),
      startSmtp(),
    ]);
    for (const result of started) if (result.status === "rejected") throw result.reason;
  }, 180_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    if (server) await stop(server);
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (doh ? doh.close(() => resolve()) : resolve()));
    rmSync(state, { recursive: true, force: true });
  });

  it("the checker is not blind: it reports a CSP violation, a missing resource and a serious axe violation", async () => {
    // A page served under the console's own CSP (taken from a real answer) that breaks each rule once.
    const csp = (await fetch(`${server.base}/`)).headers.get("Content-Security-Policy")!;
    expect(csp).toContain("default-src 'none'");
    const context = await newContext();
    await context.route(`${server.base}/harness-self-test`, (route) =>
      route.fulfill({
        status: 200,
        headers: { "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": csp },
        body: '<!doctype html><html lang="en"><head><title>Self-test</title><link rel="stylesheet" href="/console.css"></head><body><main><h1>Self-test</h1><script>document.title = "inline";</script><img src="/no-such-image.png"></main></body></html>',
      }),
    );
    const checked = await open(context);
    await checked.page.goto(`${server.base}/harness-self-test`);
    await checked.page.waitForLoadState("networkidle");
    const problems = checked.problems.join("\n");
    expect(problems).toMatch(/console error .*Content Security Policy/);
    expect(problems).toMatch(/404 for GET .*\/no-such-image\.png/);
    expect((await axeViolations(checked.page)).join("\n")).toMatch(/^critical image-alt/m);
    await expect(check(checked, "the self-test page")).rejects.toThrow(/console, page or network errors/);
  });

  it("signs in: a wrong token gets the visible refusal and no session, the right one the overview", async () => {
    const context = await newContext();
    const checked = await open(context);
    await visit(checked, "/");
    await expect(checked.page.title()).resolves.toMatch(/· mailgate$/);
    await shoot(checked.page, "sign-in");

    await checked.page.getByLabel("Admin token").fill("not-the-admin-token");
    await checked.provoke(401, "/sign-in", "the wrong token", async () => {
      const [answer] = await Promise.all([
        checked.page.waitForResponse((r) => r.url() === `${server.base}/sign-in`),
        checked.page.getByRole("button", { name: "Sign in" }).click(),
      ]);
      expect(answer.status()).toBe(401);
      await checked.page.getByRole("alert").filter({ hasText: "That is not the admin token." }).waitFor();
    });
    expect(await session(context)).toBeUndefined();

    await checked.page.getByLabel("Admin token").fill(adminToken());
    await checked.page.getByRole("button", { name: "Sign in" }).click();
    await expectH1(checked.page, "Overview");
    await check(checked, "overview");
    const cookie = await session(context);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
    expect(cookie!.value).not.toContain(adminToken());
  });

  it("follows a refused message to its reason: Messages, the message, the refusal in its routing trace", async () => {
    const to = `${unique("nobody")}@demo.example`;
    const subject = `Where did it go? ${unique("refused")}`;
    const result = await sendIn("mary@example.org", to, mime({ From: "Mary <mary@example.org>", To: to, "Message-ID": `<${unique("refused")}@example.org>`, Subject: subject }));
    const reason = `There is no mailbox or alias for ${to} here. Please check the address.`;
    expect(result.rejectReason).toBe(reason);

    const checked = await signIn(await newContext());
    await follow(checked, "Messages");
    await shoot(checked.page, "messages");
    await checked.page.getByRole("link", { name: subject, exact: true }).click();
    await expectH1(checked.page, subject);
    await check(checked, "the refused message");
    await section(checked.page, "Routing trace")
      .locator("ol > li")
      .filter({ hasText: `Refused: ${reason}` })
      .waitFor();
    await shoot(checked.page, "message");
  });

  it("creates an alias on the demo domain, which then appears in its list", async () => {
    const name = unique("browser");
    const checked = await signIn(await newContext());
    await follow(checked, "Domains");
    await checked.page.getByRole("link", { name: "demo.example", exact: true }).click();
    await expectH1(checked.page, "demo.example");
    await check(checked, "the demo domain");
    // The check asked the loopback resolver: real answers, not "the resolver could not be reached".
    const domainCheck = await section(checked.page, "Domain check").textContent();
    expect(domainCheck).toMatch(/\bpass\b/);
    expect(domainCheck).not.toMatch(/could not be reached/);
    await shoot(checked.page, "domain");

    const form = section(checked.page, "Create alias");
    await form.getByLabel("Name", { exact: true }).fill(name);
    await form.getByLabel("Destination", { exact: true }).selectOption("store");
    await form.getByLabel("Who may write", { exact: true }).selectOption("everyone");
    await form.getByRole("button", { name: "Create alias" }).click();
    await checked.page.getByText(`${name}@demo.example`).first().waitFor();
    await check(checked, "the demo domain with the new alias");
    const aliases = await ok("GET", "/v1/aliases?domain=demo.example");
    expect(aliases.items.map((a: any) => a.address)).toContain(`${name}@demo.example`);
  });

  it("tests a relay and sends a test message through it: the loopback SMTP server's own answer is shown", async () => {
    const relay = await ok("POST", "/v1/relays", {
      name: "Loopback SMTP",
      type: "smtp",
      from_filter: "demo.example",
      sequence: 20,
      config: { host: "127.0.0.1", port: smtpPort, security: "none" },
    });
    const rcpt = `${unique("reader")}@example.org`;
    const checked = await signIn(await newContext());
    await follow(checked, "Relays");
    await checked.page.getByRole("link", { name: "Loopback SMTP", exact: true }).click();
    await expectH1(checked.page, "Loopback SMTP");
    await check(checked, "the relay");

    await checked.page.getByRole("button", { name: "Test connection" }).click();
    const answer = checked.page.getByRole("region", { name: "Relay answer" }).locator("pre");
    await answer.waitFor();
    expect(await answer.textContent()).toMatch(/\b2\d\d\b/);
    await check(checked, "the relay's connection test");

    await checked.page.getByLabel("Send a test to").fill(rcpt);
    await checked.page.getByRole("button", { name: "Send a test message" }).click();
    await checked.page.getByRole("region", { name: "Relay answer" }).locator("pre").filter({ hasText: /250\b/ }).waitFor();
    await check(checked, "the relay's test message");
    expect(received.filter((m) => m.to.includes(rcpt))).toHaveLength(1);
    await shoot(checked.page, "relay");
    expect(relay.id).toMatch(/^rly_/);
  });

  it("lifts a suppression from Contacts", async () => {
    const email = `${unique("suppressed")}@example.org`;
    await ok("POST", "/v1/contacts", { email, name: "Suppressed Reader" });
    await ok("PATCH", `/v1/contacts/${encodeURIComponent(email)}`, { suppressed: true });
    expect((await ok("GET", "/v1/suppressions?limit=200")).items.map((s: any) => s.email)).toContain(email);

    const checked = await signIn(await newContext());
    await follow(checked, "Contacts");
    await checked.page.getByRole("button", { name: `Lift the suppression of ${email}`, exact: true }).click();
    await checked.page.getByRole("heading", { level: 1, name: "Contacts", exact: true }).waitFor();
    await checked.page.getByRole("button", { name: `Lift the suppression of ${email}`, exact: true }).waitFor({ state: "detached" });
    await check(checked, "contacts after lifting");
    expect((await ok("GET", "/v1/suppressions?limit=200")).items.map((s: any) => s.email)).not.toContain(email);
  });

  it("visits every page of the nav, and a message, a thread, a domain and a relay, with no console error and nothing serious for axe", async () => {
    // Something on each list: a thread opened by mail in, so its page has messages.
    const subject = `Browser tour ${unique("tour")}`;
    const result = await sendIn(
      "mary@example.org",
      "support@demo.example",
      mime({ From: "Mary <mary@example.org>", To: "support@demo.example", "Message-ID": `<${unique("tour")}@example.org>`, Subject: subject }),
    );
    expect(result.rejectReason).toBeUndefined();

    const context = await newContext();
    const checked = await signIn(context);
    for (const [name] of NAV.slice(1)) await follow(checked, name);
    await follow(checked, "Overview");
    // By now the earlier tests have given it something to show.
    await shoot(checked.page, "overview");

    // The message in and the follower's notification share the subject.
    await follow(checked, "Messages");
    await checked.page.getByRole("link", { name: subject, exact: true }).first().click();
    await expectH1(checked.page, subject);
    await check(checked, "a message");
    // The raw message comes through the console's session (the token never goes to the browser).
    const raw = await checked.page.getByRole("link", { name: "Download raw message" }).getAttribute("href");
    const download = await fetch(`${server.base}${raw}`, { headers: { Cookie: `mailgate_session=${(await session(context))!.value}` } });
    expect(download.status).toBe(200);
    expect(await download.text()).toContain(subject);

    await follow(checked, "Threads");
    await checked.page.getByRole("link", { name: subject }).first().click();
    await checked.page.locator("h1").waitFor();
    await check(checked, "a thread");

    await follow(checked, "Domains");
    await checked.page.getByRole("link", { name: "demo.example", exact: true }).click();
    await expectH1(checked.page, "demo.example");
    await check(checked, "a domain");

    await follow(checked, "Relays");
    await checked.page.getByRole("link", { name: "Cloudflare Email Service", exact: true }).click();
    await expectH1(checked.page, "Cloudflare Email Service");
    await check(checked, "a relay");
  });

  it("shows a route test's decision trace, recording nothing", async () => {
    const checked = await signIn(await newContext());
    await follow(checked, "Route test");
    const before = (await ok("GET", "/v1/messages?limit=200")).items.length;
    const raw = mime({ From: "Mary <mary@example.org>", To: "sales@demo.example", "Message-ID": `<${unique("route")}@example.org>`, Subject: "Route me" });
    await checked.page.getByLabel("Envelope sender (MAIL FROM)").fill("mary@example.org");
    await checked.page.getByLabel("Envelope recipient (RCPT TO)").fill("sales@demo.example");
    await checked.page.getByLabel("Headers or the whole message").fill(raw);
    await checked.page.getByRole("button", { name: "Test the route" }).click();
    await checked.page.getByRole("heading", { level: 2, name: "Decision trace", exact: true }).waitFor();
    await checked.page.locator("ol.trace > li").filter({ hasText: "sales@demo.example" }).first().waitFor();
    await check(checked, "the route test's trace");
    await shoot(checked.page, "route-test");
    expect((await ok("GET", "/v1/messages?limit=200")).items.length).toBe(before);
  });

  it("at a phone's width: the overview, Messages, a message and a domain fit the screen, pass the same checks, and are photographed", async () => {
    const to = `${unique("nobody")}@demo.example`;
    const subject = `Lost on the phone ${unique("phone")}`;
    await sendIn("mary@example.org", to, mime({ From: "Mary <mary@example.org>", To: to, "Message-ID": `<${unique("phone")}@example.org>`, Subject: subject }));
    // Nothing wider than the screen: no sideways scrolling on a phone.
    const width = async (page: Page) => {
      const { scrollWidth, widest } = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        // What sticks out, to name it when the check fails.
        widest: Array.from(document.querySelectorAll("body *"))
          .filter((e) => e.getBoundingClientRect().right > 391)
          .slice(-4)
          .map((e) => `${e.tagName.toLowerCase()}${e.className ? `.${e.className}` : ""}: ${(e.textContent ?? "").trim().slice(0, 40)}`),
      }));
      if (scrollWidth > PHONE.width) console.error("wider than the phone:", widest);
      return scrollWidth;
    };

    const checked = await signIn(await newContext(PHONE));
    expect(await width(checked.page), "the overview's width").toBeLessThanOrEqual(PHONE.width);
    await shoot(checked.page, "overview-phone");
    await visit(checked, "/messages", "Messages");
    expect(await width(checked.page), "Messages' width").toBeLessThanOrEqual(PHONE.width);
    await shoot(checked.page, "messages-phone");
    await checked.page.getByRole("link", { name: subject, exact: true }).click();
    await expectH1(checked.page, subject);
    await check(checked, "a message at a phone's width");
    expect(await width(checked.page), "the message's width").toBeLessThanOrEqual(PHONE.width);
    await shoot(checked.page, "message-phone");
    await visit(checked, "/domains/demo.example");
    expect(await width(checked.page), "the domain page's width").toBeLessThanOrEqual(PHONE.width);
  });

  it("signs out: the console needs signing in again, and the old session cookie no longer works", async () => {
    const context = await newContext();
    const checked = await signIn(context);
    const cookie = await session(context);
    const asCookie = (path: string) => fetch(`${server.base}${path}`, { headers: { Cookie: `mailgate_session=${cookie!.value}` }, redirect: "manual" });
    const before = await asCookie("/messages");
    expect(before.status).toBe(200);
    expect(await before.text()).toContain("<h1>Messages</h1>");

    await checked.page.getByRole("button", { name: "Sign out" }).click();
    await checked.page.getByLabel("Admin token").waitFor();
    await check(checked, "signed out");
    expect(await session(context)).toBeUndefined();

    await checked.page.goto(`${server.base}/messages`);
    await checked.page.getByLabel("Admin token").waitFor();
    expect(await checked.page.locator("h1", { hasText: "Messages" }).count()).toBe(0);

    // Signed out, a console page sends to the sign-in page (/): the session is gone on the server too.
    const after = await asCookie("/messages");
    expect(after.status).toBe(303);
    expect(after.headers.get("Location")).toBe("/");
  });
});
