/**
 * The console's admin pages (issue 12): domains and aliases, relays with
 * their tests, incoming servers, contacts and suppressions, API keys,
 * settings, the route test. Driven as a browser drives them: signed in,
 * forms posted with the CSRF field from our own origin, each 303 followed
 * with the cookies it set, the result read from the page it leads to.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { Env } from "../src/env";
import deployed from "../src/index";
import { ADMIN_TOKEN, api, createAlias, messagesFor, mime, ok, setupDomain, smtpReceived, smtpRelay, unique } from "./helpers";

const ORIGIN = "https://mailgate.test";
/** The domain check reads DNS from the local resolver (test/node/doh.ts), never the Internet. */
const bindings = { ...env, DOH_URL: inject("doh").url } as Env;

interface Page {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

/** Every body, cookie and redirect the console answered in this file: none may hold the admin token. */
const seen: string[] = [];

/** A browser: a cookie jar, the session's CSRF token, requests that follow nothing by themselves. */
class Browser {
  private cookies = new Map<string, string>();
  csrf = "";

  async request(path: string, init: RequestInit = {}): Promise<Page> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set("Cookie", [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; "));
    const ctx = createExecutionContext();
    const response = await deployed.fetch(new Request(`${ORIGIN}${path}`, { ...init, headers, redirect: "manual" }), bindings, ctx);
    await waitOnExecutionContext(ctx);
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ""] = cookie.split(";");
      const [name = "", value = ""] = pair.split("=");
      if (/Max-Age=0\b/i.test(cookie) || /Expires=Thu, 01 Jan 1970/i.test(cookie) || value === "") this.cookies.delete(name.trim());
      else this.cookies.set(name.trim(), value);
    }
    const text = await response.text();
    const page = { status: response.status, headers: response.headers, text, location: response.headers.get("Location") };
    seen.push(text, response.headers.getSetCookie().join("\n"), page.location ?? "");
    return page;
  }

  get(path: string): Promise<Page> {
    return this.request(path);
  }

  /** A form post from our own page, with the CSRF field. */
  post(path: string, fields: Record<string, string> = {}): Promise<Page> {
    return this.request(path, { method: "POST", body: new URLSearchParams({ csrf: this.csrf, ...fields }), headers: { Origin: ORIGIN, "Sec-Fetch-Site": "same-origin" } });
  }

  /** Posts a form, expects its 303, and follows it: the page that shows the result. */
  async submit(path: string, fields: Record<string, string> = {}): Promise<Page> {
    const answer = await this.post(path, fields);
    expect(answer.status, `POST ${path}: ${answer.text.slice(0, 300)}`).toBe(303);
    expect(answer.location).toBeTruthy();
    const page = await this.get(answer.location!);
    expect(page.status).toBe(200);
    return page;
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }
}

async function signedIn(): Promise<Browser> {
  const browser = new Browser();
  const answer = await browser.request("/sign-in", { method: "POST", body: new URLSearchParams({ token: ADMIN_TOKEN }), headers: { Origin: ORIGIN } });
  expect(answer.status).toBe(303);
  const home = await browser.get("/");
  const csrf = /name="csrf" value="([^"]+)"/.exec(home.text);
  expect(csrf).not.toBeNull();
  browser.csrf = csrf![1]!;
  return browser;
}

function h1Of(page: Page): string[] {
  return [...page.text.matchAll(/<h1[^>]*>([\s\S]*?)<\/h1>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, "").trim());
}

/** The text of the page's role="status" and role="alert" paragraphs. */
function said(page: Page, role: "status" | "alert"): string[] {
  return [...page.text.matchAll(new RegExp(`<p role="${role}">([\\s\\S]*?)</p>`, "g"))].map((m) => decode(m[1]!.replace(/<[^>]+>/g, "")));
}

function decode(text: string): string {
  return text.replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}

/** Every form on the page posts with the CSRF field; every input, select and textarea has a label. */
function expectAccessibleForms(page: Page) {
  for (const form of page.text.matchAll(/<form method="post"[\s\S]*?<\/form>/g)) expect(form[0]).toContain('name="csrf"');
  const labelled = new Set([...page.text.matchAll(/<label for="([^"]+)"/g)].map((m) => m[1]));
  for (const control of page.text.matchAll(/<(input|select|textarea)\b([^>]*)>/g)) {
    if (/type="hidden"/.test(control[2]!)) continue;
    const id = /\bid="([^"]+)"/.exec(control[2]!)?.[1];
    expect(id && labelled.has(id), `a label for ${control[0]}`).toBe(true);
  }
  for (const th of page.text.matchAll(/<th\b([^>]*)>/g)) expect(th[1]).toMatch(/scope="(col|row)"/);
  expect(h1Of(page)).toHaveLength(1);
}

describe("each page renders with its h1", () => {
  it("the list pages", async () => {
    const browser = await signedIn();
    const pages: [string, string][] = [
      ["/domains", "Domains"],
      ["/relays", "Relays"],
      ["/incoming-servers", "Incoming servers"],
      ["/contacts", "Contacts"],
      ["/keys", "API keys"],
      ["/settings", "Settings"],
      ["/route-test", "Route test"],
    ];
    for (const [path, title] of pages) {
      const page = await browser.get(path);
      expect(page.status, path).toBe(200);
      expect(h1Of(page), path).toEqual([title]);
      expect(page.text, path).toContain(`<a href="${path}" aria-current="page">`);
      expect(page.headers.get("Content-Security-Policy")).toContain("default-src 'none'");
      expect(page.text).not.toMatch(/\sstyle=|<script|<style/);
      expectAccessibleForms(page);
    }
  });

  it("a domain's, an alias's, a relay's and an incoming server's page are named by their object", async () => {
    const browser = await signedIn();
    const domain = await setupDomain();
    const alias = await createAlias({ name: "info", domain });
    const relay = await ok("POST", "/v1/relays", smtpRelay("plain", { name: `Relay ${unique()}`, enabled: false }), 201);
    const server = await ok(
      "POST",
      "/v1/incoming-servers",
      {
        name: `Mailbox ${unique()}`,
        protocol: "imap",
        host: "127.0.0.1",
        port: 1143,
        security: "starttls",
        username: "u",
        password: "p",
        deliver_to: `info@${domain}`,
        enabled: false,
      },
      201,
    );
    for (const [path, title] of [
      [`/domains/${domain}`, domain],
      [`/domains/${domain}/aliases/${alias.id}`, `info@${domain}`],
      [`/relays/${relay.id}`, relay.name],
      [`/incoming-servers/${server.id}`, server.name],
    ]) {
      const page = await browser.get(path!);
      expect(page.status, path).toBe(200);
      expect(h1Of(page), path).toEqual([title]);
      expectAccessibleForms(page);
    }
    expect((await browser.get(`/domains/nothing-${unique()}.example`)).status).toBe(404);
    expect((await browser.get("/relays/rly_nothing")).status).toBe(404);
    // The incoming server's status is on its row: never fetched yet.
    const list = await browser.get("/incoming-servers");
    expect(list.text).toContain(server.name);
    expect(list.text).toContain(`IMAP u at 127.0.0.1:1143`);
  });
});

describe("domains and aliases", () => {
  it("a domain is added through the form, and a refusal names the field", async () => {
    const browser = await signedIn();
    const name = `${unique("new")}.example.com`;
    const page = await browser.submit("/domains", { name, company_name: "Acme", contact_email: "", default_from: "", catchall: "", bounce: "", sequence: "" });
    expect(h1Of(page)).toEqual([name]);
    expect(said(page, "status")).toContain(`The domain ${name} was added.`);
    expect((await ok("GET", `/v1/domains/${name}`)).company_name).toBe("Acme");
    expect((await browser.get("/domains")).text).toContain(`<a href="/domains/${name}">${name}</a>`);

    const refused = await browser.submit("/domains", { name: `${unique("bad")}.example.com`, catchall: "same", bounce: "same" });
    expect(said(refused, "alert").join()).toMatch(/^The domain was not added: catchall and bounce must be different/);
    // The values typed come back in the form.
    expect(refused.text).toContain('value="same"');
  });

  it("an alias is created through the form and listed; it can be disabled, edited and deleted", async () => {
    const browser = await signedIn();
    const domain = await setupDomain();
    const form = await browser.get(`/domains/${domain}`);
    expect(form.text).toMatch(/<h2 id="create-alias">Create alias<\/h2>/);
    for (const [id, label] of [
      ["name", "Name"],
      ["destination", "Destination"],
      ["target", "Forward to or webhook URL"],
      ["contact", "Who may write"],
    ]) {
      expect(form.text).toContain(`<label for="${id}">${label}</label>`);
    }
    expect(form.text).toContain("Create alias</button>");

    const page = await browser.submit(`/domains/${domain}/aliases`, { name: "Sales", destination: "forward", target: "boss@elsewhere.example", contact: "known" });
    expect(said(page, "status")).toContain(`The alias sales@${domain} was created.`);
    expect(page.text).toContain(`>sales@${domain}</a>`);
    expect(page.text).toContain("forward to boss@elsewhere.example");
    const [alias] = (await ok("GET", `/v1/aliases?domain=${domain}`)).items;
    expect(alias).toMatchObject({ address: `sales@${domain}`, contact: "known", destinations: [{ type: "forward", to: "boss@elsewhere.example" }], enabled: true });
    // The notice is shown once.
    expect(said(await browser.get(`/domains/${domain}`), "status")).toEqual([]);

    const disabled = await browser.submit(`/domains/${domain}/aliases/${alias.id}/enabled`, { enabled: "false" });
    expect(said(disabled, "status")).toContain(`The alias sales@${domain} is disabled.`);
    expect((await ok("GET", `/v1/aliases/${alias.id}`)).enabled).toBe(false);

    const edited = await browser.submit(`/domains/${domain}/aliases/${alias.id}`, {
      name: "sales",
      contact: "everyone",
      destinations: '[{"type":"store"}]',
      followers: "Mary Major <mary@customer.example>",
      refusal_text: "",
      thread_id: "",
      raw_retention_days: "7",
      enabled: "on",
    });
    expect(h1Of(edited)).toEqual([`sales@${domain}`]);
    expect(said(edited, "status")).toContain(`The alias sales@${domain} was saved.`);
    expect(await ok("GET", `/v1/aliases/${alias.id}`)).toMatchObject({
      contact: "everyone",
      destinations: [{ type: "store" }],
      followers: [{ name: "Mary Major", address: "mary@customer.example" }],
      raw_retention_days: 7,
      enabled: true,
      local_part_only: false,
    });

    // The Delete button carries the alias's address, as a browser submits it.
    const deleted = await browser.submit(`/domains/${domain}/aliases/${alias.id}/delete`, { address: `sales@${domain}` });
    expect(said(deleted, "status")).toContain(`The alias sales@${domain} was deleted.`);
    expect((await api("GET", `/v1/aliases/${alias.id}`)).status).toBe(404);
  });

  it("a refused alias shows the API's words naming the field, and keeps what was typed", async () => {
    const browser = await signedIn();
    const domain = await setupDomain();
    const missing = await browser.submit(`/domains/${domain}/aliases`, { name: "fwd", destination: "forward", target: "", contact: "everyone" });
    expect(said(missing, "alert")).toEqual(["The alias was not created: Forward to or webhook URL: give the address to forward to."]);
    expect(missing.text).toMatch(/<input id="name" name="name" type="text" value="fwd"/);

    const bad = await browser.submit(`/domains/${domain}/aliases`, { name: "ok", destination: "forward", target: "not an address", contact: "everyone" });
    expect(said(bad, "alert").join()).toMatch(/^The alias was not created: invalid body: destinations\.0\.to: /);

    await createAlias({ name: "taken", domain });
    const taken = await browser.submit(`/domains/${domain}/aliases`, { name: "taken", destination: "store", target: "", contact: "everyone" });
    expect(said(taken, "alert").join()).toMatch(/^The alias was not created: .*taken@/);
  });

  it("a webhook alias's signing secret is shown once", async () => {
    const browser = await signedIn();
    const domain = await setupDomain();
    const page = await browser.submit(`/domains/${domain}/aliases`, { name: "hook", destination: "webhook", target: "https://hooks.example.com/in", contact: "everyone" });
    const secret = /<output class="secret">([^<]+)<\/output>/.exec(page.text)?.[1];
    expect(secret).toMatch(/.{24,}/);
    expect((await browser.get(`/domains/${domain}`)).text).not.toContain(secret!);
  });

  it("aliases on every domain (no domain) are listed on /domains with their actions, and created there", async () => {
    const browser = await signedIn();
    const domain = await setupDomain();
    const listed = await createAlias({ name: unique("every"), domain: null, local_part_only: true });
    const onDomain = await createAlias({ name: unique("own"), domain });
    const list = await browser.get("/domains");
    expect(list.text).toContain('<h2 id="every-domain">Aliases on every domain</h2>');
    const section = /<section aria-labelledby="every-domain">([\s\S]*?)<\/section>/.exec(list.text)?.[1] ?? "";
    expect(section).toContain("<caption>Aliases on every domain</caption>");
    expect(section).toContain(`<a href="/aliases/${listed.id}" id="alias-${listed.id}">${listed.address}</a>`);
    expect(section).toContain(`action="/aliases/${listed.id}/enabled"`);
    expect(section).toContain(`action="/aliases/${listed.id}/delete"`);
    expect(section).not.toContain(onDomain.address);
    expectAccessibleForms(list);
    for (const [id, label] of [
      ["every-name", "Local part"],
      ["every-destination", "Destination"],
      ["every-target", "Forward to or webhook URL"],
      ["every-contact", "Who may write"],
    ]) {
      expect(section).toContain(`<label for="${id}">${label}</label>`);
    }

    // Created through the form: domain null, local part only.
    const name = unique("anywhere");
    const created = await browser.submit("/aliases", { name, destination: "forward", target: "boss@elsewhere.example", contact: "known" });
    expect(h1Of(created)).toEqual(["Domains"]);
    expect(said(created, "status")).toContain(`The alias ${name} on every domain was created.`);
    const alias = (await ok("GET", "/v1/aliases?limit=200")).items.find((a: any) => a.address === name);
    expect(alias).toMatchObject({ domain: null, local_part_only: true, contact: "known", destinations: [{ type: "forward", to: "boss@elsewhere.example" }] });
    expect(created.text).toContain(`>${name}</a>`);
    const refused = await browser.submit("/aliases", { name, destination: "store", target: "", contact: "everyone" });
    expect(said(refused, "alert").join()).toMatch(new RegExp(`^The alias was not created: .*${name}`));
    expect(refused.text).toContain(`<input id="every-name" name="name" type="text" value="${name}"`);
    // The domain's own form is not refilled with it.
    expect(refused.text).not.toContain(`id="name" name="name" type="text" value="${name}"`);

    // Its page, reached from the table; the domain route of it leads there.
    const page = await browser.get(`/aliases/${alias.id}`);
    expect(page.status).toBe(200);
    expect(h1Of(page)).toEqual([name]);
    expect(page.text).toContain('<a href="/domains#every-domain">Aliases on every domain</a>');
    expect(page.text).toContain(`<form method="post" action="/aliases/${alias.id}"`);
    expectAccessibleForms(page);
    const moved = await browser.get(`/domains/${domain}/aliases/${alias.id}`);
    expect(moved.status).toBe(303);
    expect(moved.location).toBe(`/aliases/${alias.id}`);
    expect((await browser.get(`/aliases/${onDomain.id}`)).location).toBe(`/domains/${domain}/aliases/${onDomain.id}`);

    const disabled = await browser.submit(`/aliases/${alias.id}/enabled`, { enabled: "false" });
    expect(h1Of(disabled)).toEqual(["Domains"]);
    expect(said(disabled, "status")).toContain(`The alias ${name} is disabled.`);
    expect((await ok("GET", `/v1/aliases/${alias.id}`)).enabled).toBe(false);

    const edited = await browser.submit(`/aliases/${alias.id}`, {
      name,
      contact: "everyone",
      destinations: '[{"type":"store"}]',
      followers: "",
      refusal_text: "",
      thread_id: "",
      raw_retention_days: "",
      enabled: "on",
      local_part_only: "on",
    });
    expect(h1Of(edited)).toEqual([name]);
    expect(said(edited, "status")).toContain(`The alias ${name} was saved.`);
    expect(await ok("GET", `/v1/aliases/${alias.id}`)).toMatchObject({ domain: null, contact: "everyone", destinations: [{ type: "store" }], enabled: true });

    const deleted = await browser.submit(`/aliases/${alias.id}/delete`, { address: name });
    expect(h1Of(deleted)).toEqual(["Domains"]);
    expect(said(deleted, "status")).toContain(`The alias ${name} was deleted.`);
    expect((await api("GET", `/v1/aliases/${alias.id}`)).status).toBe(404);
    expect(deleted.text).not.toContain(`>${name}</a>`);
  });

  it("the domain page shows the domain check, each item with its reason and the records to publish", async () => {
    const browser = await signedIn();
    const domain = await setupDomain();
    await createAlias({ name: "info", domain });
    const page = await browser.get(`/domains/${domain}`);
    expect(page.text).toContain('<h2 id="domain-check">Domain check</h2>');
    const check = await api("GET", `/v1/domains/${domain}/check`, undefined, ADMIN_TOKEN, {}, { env: bindings });
    expect(check.status).toBe(200);
    const mx = check.body.items.find((item: any) => item.id === "mx");
    expect(mx.status).toBe("fail");
    expect(decode(page.text)).toContain(mx.reason);
    // The records to publish, one per line: name, type, value.
    expect(page.text).toMatch(new RegExp(`<pre>${domain.replaceAll(".", "\\.")} MX \\d+ route\\d\\.mx\\.cloudflare\\.net`));
    expect(page.text).toMatch(/<span class="badge bad">fail<\/span> <strong>mx<\/strong>/);
  });
});

describe("relays", () => {
  it("a relay is added through the form; its page tests the connection and sends a test message, showing the server's answer", async () => {
    const browser = await signedIn();
    const target = smtpRelay("plain");
    const config = target.config as { host: string; port: number; security: string };
    const name = `Console relay ${unique()}`;
    const added = await browser.submit("/relays", {
      type: "smtp",
      name,
      from_filter: "",
      sequence: "90",
      stream: "transactional",
      daily_limit: "",
      host: config.host,
      port: String(config.port),
      security: config.security,
      username: "",
      password: "",
      config: "",
    });
    expect(h1Of(added)).toEqual([name]);
    expect(said(added, "status")).toContain(`The relay ${name} was added: test it below.`);
    const relayId = /action="\/relays\/([^/"]+)\/test"/.exec(added.text)![1]!;
    expect(await ok("GET", `/v1/relays/${relayId}`)).toMatchObject({ name, type: "smtp", sequence: 90, enabled: false, config: { host: config.host, port: config.port } });
    expect(added.text).toContain("Test connection</button>");
    expect(added.text).toContain('<label for="to">Send a test to</label>');
    expect(added.text).toContain("Send a test message</button>");

    const tested = await browser.submit(`/relays/${relayId}/test`);
    const answer = /<section aria-label="Relay answer">([\s\S]*?)<\/section>/.exec(tested.text)?.[1];
    expect(answer).toBeDefined();
    expect(answer).toContain("The connection test passed");
    // The SMTP conversation, as the server gave it.
    expect(answer).toMatch(/<pre>[\s\S]*220[\s\S]*<\/pre>/);

    const to = `${unique("console")}@receiver.example`;
    const sent = await browser.submit(`/relays/${relayId}/test-message`, { to });
    const sentAnswer = /<section aria-label="Relay answer">([\s\S]*?)<\/section>/.exec(sent.text)?.[1];
    expect(sentAnswer).toContain(`The test message was sent to ${to}`);
    expect(sentAnswer).toMatch(/<pre>250[\s\S]*Message-ID: &lt;/);
    expect((await smtpReceived(to)).length).toBe(1);

    const refused = await browser.submit(`/relays/${relayId}/test-message`, { to: "not an address" });
    expect(/<section aria-label="Relay answer">[\s\S]*?<p role="alert">The test message was not sent: /.test(refused.text)).toBe(true);
    expect(refused.text).toContain('value="not an address"');

    const enabled = await browser.submit(`/relays/${relayId}/enabled`, { enabled: "true", back: "/relays" });
    expect(h1Of(enabled)).toEqual(["Relays"]);
    expect(said(enabled, "status")).toContain(`The relay ${name} is enabled.`);
    await ok("PATCH", `/v1/relays/${relayId}`, { enabled: false });
  });

  it("a refused relay names the field, and a typed password never comes back to the browser", async () => {
    const browser = await signedIn();
    const page = await browser.submit("/relays", {
      type: "smtp",
      name: "No port",
      stream: "transactional",
      host: "smtp.example.com",
      port: "25",
      security: "starttls",
      username: "me",
      password: "hunter2-secret",
      config: "",
    });
    expect(said(page, "alert").join()).toMatch(/^The relay was not added: invalid body: config\.port: port 25 is blocked/);
    expect(page.text).not.toContain("hunter2-secret");
    expect(page.text).toContain('value="smtp.example.com"');
    const json = await browser.submit("/relays", { type: "postmark", name: "Bad JSON", stream: "transactional", config: "{nope" });
    expect(said(json, "alert")).toEqual(['The relay was not added: Other settings (JSON): must be a JSON object, such as {"api_key": "…"}.']);
  });
});

describe("contacts and suppressions", () => {
  it("a suppression is listed with why and since when, and lifted through its form", async () => {
    const browser = await signedIn();
    const email = `${unique("gone")}@customer.example`;
    await ok("POST", "/v1/contacts", { email, name: "Gone" }, 201);
    await ok("PATCH", `/v1/contacts/${email}`, { suppressed: true });
    const page = await browser.get("/contacts");
    expect(page.text).toContain(`aria-label="Lift the suppression of ${email}"`);
    const row = new RegExp(`<th scope="row">${email}</th>([\\s\\S]*?)</tr>`).exec(page.text)?.[1];
    expect(row).toContain("Suppressed by hand.");
    expect(row).toContain("every stream");
    expect(row).toMatch(/<time datetime="\d{4}-/);

    const lifted = await browser.submit("/contacts/suppressions/lift", { email, stream: "all" });
    expect(said(lifted, "status")).toContain(`The suppression of ${email} was lifted (manual, every stream): mail may go to it again.`);
    expect(lifted.text).not.toContain(`aria-label="Lift the suppression of ${email}"`);
    expect((await ok("GET", `/v1/contacts/${email}`)).suppressed).toBe(false);

    const again = await browser.submit("/contacts/suppressions/lift", { email, stream: "all" });
    expect(said(again, "alert").join()).toMatch(new RegExp(`^The suppression of ${email} was not lifted: suppression of ${email} not found`));
  });

  it("contacts show their bounce counts; one is added and one suppressed through forms", async () => {
    const browser = await signedIn();
    const email = `${unique("new")}@customer.example`;
    const added = await browser.submit("/contacts", { email, name: "New Person" });
    expect(said(added, "status")).toContain(`${email} is now a known contact.`);
    expect(new RegExp(`<th scope="row">${email}</th><td>New Person</td><td class="num">0</td>`).test(added.text)).toBe(true);
    const suppressed = await browser.submit("/contacts/suppress", { email });
    expect(said(suppressed, "status")).toContain(`${email} is suppressed: no more mail goes to it.`);
    expect(suppressed.text).toContain(`aria-label="Lift the suppression of ${email}"`);
    const duplicate = await browser.submit("/contacts", { email });
    expect(said(duplicate, "alert").join()).toContain("already exists");
  });
});

describe("API keys", () => {
  it("a key is shown once, works, and stops working when revoked", async () => {
    const browser = await signedIn();
    const name = `Shop ${unique()}`;
    const page = await browser.submit("/keys", { name, from_domains: "" });
    const key = /<output id="new-key" class="secret">(mgk_[^<]+)<\/output>/.exec(page.text)?.[1];
    expect(key).toBeDefined();
    expect(said(page, "status")).toContain(`The key ${name} was created.`);
    // Never in a URL: the redirect was to /keys, and the cookie that carried it is sealed and gone.
    expect(seen.some((text) => text.includes(`Location: ${key}`) || text === key)).toBe(false);
    expect(browser.cookie("mailgate_flash")).toBeUndefined();
    expect((await api("GET", "/v1/messages", undefined, key!)).status).toBe(200);

    const later = await browser.get("/keys");
    expect(later.text).not.toContain(key!);
    expect(later.text).not.toContain('id="new-key"');
    const keyId = new RegExp(`<th scope="row" id="key-([^"]+)">${name}</th>`).exec(later.text)?.[1];
    expect(keyId).toBeDefined();
    expect(later.text).toContain(`${key!.slice(0, 12)}…`);

    const revoked = await browser.submit(`/keys/${keyId}/revoke`, { name });
    expect(said(revoked, "status")).toContain(`The key ${name} was revoked: it no longer works.`);
    expect(revoked.text).not.toContain(`>${name}</th>`);
    expect((await api("GET", "/v1/messages", undefined, key!)).status).toBe(401);
  });

  it("a key without a name is refused, naming the field", async () => {
    const browser = await signedIn();
    const page = await browser.submit("/keys", { name: "" });
    expect(said(page, "alert").join()).toMatch(/^The key was not created: invalid body: name: /);
  });
});

describe("settings", () => {
  it("the settings are saved through the form; a refusal names the field", async () => {
    const browser = await signedIn();
    const before = await ok("GET", "/v1/settings");
    try {
      const page = await browser.get("/settings");
      expect(page.text).toContain(`value="${before.loop_threshold}"`);
      const saved = await browser.submit("/settings", {
        loop_minutes: "60",
        loop_threshold: "7",
        allowed_domains: "one.example\ntwo.example",
        raw_retention_days: "30",
        record_retention_days: "365",
      });
      expect(said(saved, "status")).toContain("The settings were saved.");
      expect(await ok("GET", "/v1/settings")).toMatchObject({
        loop_minutes: 60,
        loop_threshold: 7,
        allowed_domains: ["one.example", "two.example"],
        raw_retention_days: 30,
        record_retention_days: 365,
      });
      expect(saved.text).toContain(`one.example\ntwo.example</textarea>`);

      const refused = await browser.submit("/settings", { loop_minutes: "0", loop_threshold: "7", allowed_domains: "", raw_retention_days: "30", record_retention_days: "365" });
      expect(said(refused, "alert").join()).toMatch(/^The settings were not saved: invalid body: loop_minutes: /);
      const notNumber = await browser.submit("/settings", {
        loop_minutes: "soon",
        loop_threshold: "7",
        allowed_domains: "",
        raw_retention_days: "30",
        record_retention_days: "365",
      });
      expect(said(notNumber, "alert")).toEqual(["The settings were not saved: Loop window (minutes): must be a whole number."]);
      expect((await ok("GET", "/v1/settings")).loop_minutes).toBe(60);
    } finally {
      await ok("PUT", "/v1/settings", before);
    }
  });

  it("allowed senders are added and removed", async () => {
    const browser = await signedIn();
    const email = `${unique("robot")}@partner.example`;
    const added = await browser.submit("/settings/allowed-senders", { email });
    expect(said(added, "status")).toContain(`${email} may now write as often as it likes.`);
    expect(added.text).toContain(`<th scope="row">${email}</th>`);
    const removed = await browser.submit("/settings/allowed-senders/remove", { email });
    expect(said(removed, "status")[0]).toMatch(/^.* is no longer an allowed sender/);
    expect(removed.text).not.toContain(`<th scope="row">${email}</th>`);
  });
});

describe("route test", () => {
  it("an unknown address shows the refusal in the trace, and nothing is recorded", async () => {
    const browser = await signedIn();
    const domain = await setupDomain();
    const raw = mime({ From: "Mary <mary@customer.example>", To: `nobody@${domain}`, Subject: "Hello" });
    const page = await browser.post("/route-test", { from: "mary@customer.example", to: `nobody@${domain}`, message: raw.replaceAll("\r\n", "\n") });
    expect(page.status).toBe(200);
    expect(h1Of(page)).toEqual(["Route test"]);
    expect(page.text).toContain('<h2 id="trace">Decision trace</h2>');
    const steps = [...(/<ol class="trace">([\s\S]*?)<\/ol>/.exec(page.text)?.[1] ?? "").matchAll(/<li[^>]*>([\s\S]*?)<\/li>/g)].map((m) => decode(m[1]!));
    expect(steps).toContain(`Refused: There is no mailbox or alias for nobody@${domain} here. Please check the address.`);
    expect(decode(page.text)).toContain(`<pre>There is no mailbox or alias for nobody@${domain} here. Please check the address.</pre>`);
    expect(said(page, "status")).toContain("Nothing was recorded or delivered: this is what mailgate would decide.");
    // The form keeps what was pasted.
    expect(page.text).toContain(`value="nobody@${domain}"`);
    expect(await messagesFor(/^Message-ID: (.*)$/m.exec(raw)![1]!.trim())).toEqual([]);
  });

  it("an alias's route is named by its address; headers alone are enough; a bad envelope is refused", async () => {
    const browser = await signedIn();
    const domain = await setupDomain();
    await createAlias({ name: "sales", domain });
    const page = await browser.post("/route-test", { from: "mary@customer.example", to: `sales@${domain}`, message: "" });
    expect(page.status).toBe(200);
    expect(decode(page.text)).toMatch(new RegExp(`Matched the alias sales@${domain.replaceAll(".", "\\.")} \\(als_[^)]+\\): opens a new thread\\.`));
    expect(page.text).toContain("accepted (250)");

    const refused = await browser.post("/route-test", { from: "mary@customer.example", to: "not an address", message: "" });
    expect(refused.status).toBe(400);
    expect(said(refused, "alert").join()).toMatch(/^The message could not be routed: invalid body: to: /);
  });
});

describe("the admin token never reaches a browser", () => {
  it("no page, cookie or redirect of this file held it (this runs last)", () => {
    expect(seen.length).toBeGreaterThan(50);
    for (const text of seen) expect(text).not.toContain(ADMIN_TOKEN);
  });
});
