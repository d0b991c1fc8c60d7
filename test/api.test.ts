/** The HTTP API through the Worker's `fetch()`: auth, errors, validation and each resource. */
import { describe, expect, it } from "vitest";
import { DecisionSchema, StoredDecisionSchema } from "../src/decision";
import { api, createAlias, deliver, messageIdOf, messagesFor, mime, ok, setupDomain, unique } from "./helpers";

describe("auth and errors", () => {
  it("serves /health and the OpenAPI document without a token", async () => {
    expect(await api("GET", "/health", undefined, null)).toMatchObject({ status: 200, body: { status: "ok" } });
    const doc = await api("GET", "/v1/openapi.json", undefined, null);
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.1.0");
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(["/v1/domains/{name}", "/v1/aliases", "/v1/aliases/{id}", "/v1/settings", "/v1/messages/{id}/raw", "/v1/route-test", "/v1/threads/{id}/followers"]),
    );
    expect(doc.body.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("documents every variant of the Decision union, so a change to it shows in the contract", async () => {
    const doc = await api("GET", "/v1/openapi.json", undefined, null);
    const documented = doc.body.components.schemas.Decision.oneOf.map((variant: any) => variant.properties.reason.enum[0]);
    expect(documented).toEqual(StoredDecisionSchema.options.map((option) => option.shape.reason.value));
    expect(documented).toEqual(expect.arrayContaining(["routed", "bounce", "no_route", "sender_loop", "duplicate", "send", "notification"]));
    // The route test answers inbound decisions only, with the same shapes.
    expect(doc.body.components.schemas.RoutingDecision.oneOf).toHaveLength(DecisionSchema.options.length);
  });

  it("refuses requests without the admin token, or with a wrong one", async () => {
    expect(await api("GET", "/v1/domains", undefined, null)).toMatchObject({
      status: 401,
      body: { error: { code: "unauthorized", message: "missing bearer token (Authorization: Bearer <token>)" } },
    });
    expect(await api("GET", "/v1/domains", undefined, "test-admin-tokeN")).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
    expect(await api("GET", "/v1/domains", undefined, "short")).toMatchObject({ status: 401 });
  });

  it("answers malformed JSON, a non-JSON body and unknown fields with clear 4xx errors", async () => {
    const domain = `${unique("d")}.example.com`;
    expect(await api("PUT", `/v1/domains/${domain}`, "{not json")).toMatchObject({ status: 400, body: { error: { code: "invalid_json" } } });
    expect(await api("PUT", `/v1/domains/${domain}`, { company_name: "A", colour: "blue" })).toMatchObject({
      status: 400,
      body: { error: { code: "invalid_request", message: expect.stringContaining("colour") } },
    });
    const response = await api("POST", "/v1/aliases", { name: "x", domain: 42, destinations: [{ type: "forward", to: "not an address" }] });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toContain("domain:");
    expect(response.body.error.message).toContain("destinations.0.to:");
    expect(await api("GET", "/v1/nowhere")).toMatchObject({ status: 404, body: { error: { code: "not_found" } } });
  });

  it("refuses bodies over 1 MiB", async () => {
    const response = await api("POST", "/v1/contacts", { email: "a@b.example", name: "x".repeat(1_100_000) });
    expect(response).toMatchObject({ status: 413, body: { error: { code: "payload_too_large" } } });
  });
});

describe("domains", () => {
  it("are created and updated by PUT, normalized, listed, read and deleted", async () => {
    const name = `${unique("d")}.Example.COM`;
    const created = await api("PUT", `/v1/domains/${name}`, { company_name: "Acme", default_from: "news" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: name.toLowerCase(),
      catchall_address: `catchall@${name.toLowerCase()}`,
      bounce_address: `bounce@${name.toLowerCase()}`,
      default_from_address: `news@${name.toLowerCase()}`,
      sequence: 10,
    });
    const updated = await api("PUT", `/v1/domains/${name.toLowerCase()}`, { catchall: "Replies", sequence: 5 });
    expect(updated).toMatchObject({ status: 200, body: { company_name: "Acme", catchall: "replies", default_from: "news", sequence: 5 } });
    expect((await ok("GET", `/v1/domains/${name.toLowerCase()}`)).catchall).toBe("replies");
    expect((await ok("GET", "/v1/domains?limit=200")).items.map((d: any) => d.name)).toContain(name.toLowerCase());
    await ok("DELETE", `/v1/domains/${name.toLowerCase()}`, undefined, 204);
    expect((await api("GET", `/v1/domains/${name.toLowerCase()}`)).status).toBe(404);
  });

  it("store internationalized names in punycode and refuse what is not a domain", async () => {
    const created = await ok("PUT", "/v1/domains/bücher-ü.example", {}, 201);
    expect(created.name).toBe("xn--bcher--3yaf.example");
    expect((await api("PUT", "/v1/domains/not_a_domain", {})).status).toBe(400);
    expect((await api("PUT", "/v1/domains/localhost", {})).status).toBe(400);
  });

  it("refuse catchall = bounce, and deleting a domain that still has aliases", async () => {
    const domain = await setupDomain();
    expect(await api("PUT", `/v1/domains/${domain}`, { catchall: "bounce" })).toMatchObject({ status: 400 });
    await createAlias({ name: "sales", domain });
    expect(await api("PUT", `/v1/domains/${domain}`, { bounce: "sales" })).toMatchObject({ status: 409, body: { error: { code: "conflict" } } });
    expect(await api("DELETE", `/v1/domains/${domain}`)).toMatchObject({ status: 409 });
  });
});

describe("aliases", () => {
  it("sanitize names as Odoo does and compute the address", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: " Équipe..Ventes ", domain });
    expect(alias).toMatchObject({ name: "equipe.ventes", address: `equipe.ventes@${domain}`, contact: "everyone", enabled: true, status: "not_tested" });
    const odd = await createAlias({ name: "b4r+_#_R3wl$$", domain });
    expect(odd.name).toBe("b4r+_#_r3wl$$");
  });

  it("refuse duplicates, unknown domains, the catchall name, forward loops and domainless aliases without local-part mode", async () => {
    const domain = await setupDomain();
    await createAlias({ name: "sales", domain });
    expect((await api("POST", "/v1/aliases", { name: "SALES", domain, destinations: [{ type: "store" }] })).status).toBe(409);
    expect((await api("POST", "/v1/aliases", { name: "x", domain: "unknown.example", destinations: [{ type: "store" }] })).status).toBe(422);
    expect((await api("POST", "/v1/aliases", { name: "catchall", domain, destinations: [{ type: "store" }] })).status).toBe(422);
    const loop = await api("POST", "/v1/aliases", { name: "fwd", domain, destinations: [{ type: "forward", to: `sales@${domain}` }] });
    expect(loop).toMatchObject({ status: 422, body: { error: { message: expect.stringContaining("would loop") } } });
    expect((await api("POST", "/v1/aliases", { name: "x", domain: null, destinations: [{ type: "store" }] })).status).toBe(400);
    expect((await api("POST", "/v1/aliases", { name: "x", domain, destinations: [] })).status).toBe(400);
    expect((await api("POST", "/v1/aliases", { name: "x", domain, destinations: [{ type: "store" }], thread_id: "thr_missing" })).status).toBe(422);
    expect((await api("POST", "/v1/aliases", { name: "x", domain, destinations: [{ type: "webhook", url: "ftp://x.example" }] })).status).toBe(400);
  });

  it("are read, listed, changed and deleted", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: "sales", domain });
    expect((await ok("GET", `/v1/aliases?domain=${domain}`)).items.map((a: any) => a.id)).toEqual([alias.id]);
    const patched = await ok("PATCH", `/v1/aliases/${alias.id}`, { name: "ventes", enabled: false, refusal_text: "Closed" });
    expect(patched).toMatchObject({ name: "ventes", address: `ventes@${domain}`, enabled: false, refusal_text: "Closed" });
    expect((await ok("GET", `/v1/aliases/${alias.id}`)).address).toBe(`ventes@${domain}`);
    await ok("DELETE", `/v1/aliases/${alias.id}`, undefined, 204);
    expect((await api("GET", `/v1/aliases/${alias.id}`)).status).toBe(404);
  });

  it("page through lists with limit and cursor", async () => {
    const domain = await setupDomain();
    for (const name of ["a", "b", "c"]) await createAlias({ name, domain });
    const first = await ok("GET", `/v1/aliases?domain=${domain}&limit=2`);
    expect(first.items.map((a: any) => a.name)).toEqual(["c", "b"]);
    const second = await ok("GET", `/v1/aliases?domain=${domain}&limit=2&cursor=${first.next_cursor}`);
    expect(second).toMatchObject({ items: [{ name: "a" }], next_cursor: null });
  });
});

describe("settings, allowed senders, contacts", () => {
  it("settings have Odoo's defaults and validate their ranges", async () => {
    const settings = await ok("GET", "/v1/settings");
    expect(settings).toMatchObject({ loop_minutes: 120, loop_threshold: 20 });
    expect((await api("PUT", "/v1/settings", { loop_minutes: 0 })).status).toBe(400);
    expect(await ok("PUT", "/v1/settings", { allowed_domains: ["Example.ORG", "example.org"] })).toMatchObject({ allowed_domains: ["example.org"] });
    expect((await ok("PUT", "/v1/settings", { allowed_domains: [] })).allowed_domains).toEqual([]);
  });

  it("allowed senders are normalized, listed and removed", async () => {
    const email = `${unique("a")}@partner.example`;
    expect(await ok("POST", "/v1/allowed-senders", { email: `"Partner" <${email.toUpperCase()}>` }, 201)).toMatchObject({ email });
    await ok("POST", "/v1/allowed-senders", { email }, 200);
    expect((await ok("GET", "/v1/allowed-senders?limit=200")).items.map((a: any) => a.email)).toContain(email);
    await ok("DELETE", `/v1/allowed-senders/${email}`, undefined, 204);
    expect((await api("DELETE", `/v1/allowed-senders/${email}`)).status).toBe(404);
    expect((await api("POST", "/v1/allowed-senders", { email: "two@a.example, three@b.example" })).status).toBe(400);
  });

  it("contacts are created, read, listed and changed", async () => {
    const email = `${unique("c")}@customer.example`;
    expect(await ok("POST", "/v1/contacts", { email, name: "Mary" }, 201)).toMatchObject({ email, name: "Mary", bounce_count: 0, suppressed: false });
    expect((await api("POST", "/v1/contacts", { email })).status).toBe(409);
    expect(await ok("PATCH", `/v1/contacts/${email}`, { suppressed: true })).toMatchObject({ name: "Mary", suppressed: true });
    expect((await ok("GET", `/v1/contacts/${encodeURIComponent(email.toUpperCase())}`)).suppressed).toBe(true);
    expect((await ok("GET", "/v1/contacts?limit=200")).items.map((c: any) => c.email)).toContain(email);
  });
});

describe("threads", () => {
  it("are created with followers, which can be added, renamed and removed", async () => {
    const thread = await ok("POST", "/v1/threads", { subject: "Project", followers: [{ email: "A@x.example", name: "A" }] }, 201);
    expect(thread).toMatchObject({ subject: "Project", alias_id: null, followers: [{ email: "a@x.example", name: "A" }] });
    const added = await ok("POST", `/v1/threads/${thread.id}/followers`, { email: "b@x.example" });
    expect(added.followers.map((f: any) => f.email)).toEqual(["a@x.example", "b@x.example"]);
    const renamed = await ok("POST", `/v1/threads/${thread.id}/followers`, { email: "b@x.example", name: "Bea" });
    expect(renamed.followers[1]).toMatchObject({ email: "b@x.example", name: "Bea" });
    const removed = await ok("DELETE", `/v1/threads/${thread.id}/followers?email=a@x.example`);
    expect(removed.followers.map((f: any) => f.email)).toEqual(["b@x.example"]);
    expect((await api("DELETE", `/v1/threads/${thread.id}/followers?email=a@x.example`)).status).toBe(404);
    expect((await api("POST", "/v1/threads", { alias_id: "als_missing" })).status).toBe(422);
    expect((await api("GET", "/v1/threads/thr_missing")).status).toBe(404);
  });
});

describe("messages", () => {
  it("are listed with filters and read with their decision and events", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: "sales", domain });
    const accepted = mime({ From: "mary@customer.example", To: `sales@${domain}` });
    const refused = mime({ From: "mary@customer.example", To: `nobody@${domain}` });
    await deliver({ to: `sales@${domain}`, raw: accepted });
    await deliver({ to: `nobody@${domain}`, raw: refused });

    const byAlias = await ok("GET", `/v1/messages?alias_id=${alias.id}`);
    expect(byAlias.items.map((m: any) => m.message_id)).toEqual([messageIdOf(accepted)]);
    const [acceptedRow] = await messagesFor(messageIdOf(accepted));
    const byThread = await ok("GET", `/v1/messages?thread_id=${acceptedRow.thread_id}&direction=in`);
    expect(byThread.items).toHaveLength(1);
    const refusedRows = await ok("GET", "/v1/messages?status=refused&limit=200");
    expect(refusedRows.items.map((m: any) => m.message_id)).toContain(messageIdOf(refused));
    expect(refusedRows.items.every((m: any) => m.status === "refused")).toBe(true);

    const detail = await ok("GET", `/v1/messages/${acceptedRow.id}`);
    expect(detail).toMatchObject({ decision: { outcome: "accepted", reason: "routed" }, events: [{ type: "accepted", detail: { reason: "routed" } }] });
    expect((await api("GET", "/v1/messages/msg_missing")).status).toBe(404);
    const [refusedRow] = await messagesFor(messageIdOf(refused));
    expect(await api("GET", `/v1/messages/${refusedRow.id}/raw`)).toMatchObject({ status: 404 });
    expect((await api("GET", "/v1/messages?direction=sideways")).status).toBe(400);
  });
});

describe("route-test", () => {
  it("returns the decision and the SMTP answer without recording or delivering anything", async () => {
    const domain = await setupDomain();
    const alias = await createAlias({ name: "sales", domain });
    const messageId = `<${unique("rt")}@sender.example>`;
    const routed = await ok("POST", "/v1/route-test", {
      from: "mary@customer.example",
      to: `sales@${domain}`,
      headers: { From: "Mary <mary@customer.example>", To: `sales@${domain}`, "Message-ID": messageId },
    });
    expect(routed).toEqual({
      decision: {
        outcome: "accepted",
        reason: "routed",
        routes: [{ kind: "alias", route_key: `alias:${alias.id}`, alias_id: alias.id, thread_id: null }],
        refused: [],
        skipped: [],
      },
      smtp: { action: "accept", text: null },
    });
    expect(await messagesFor(messageId)).toEqual([]);

    const refused = await ok("POST", "/v1/route-test", { from: "x@y.example", to: `catchall@${domain}`, raw: mime({ From: "x@y.example", To: `catchall@${domain}` }) });
    expect(refused).toMatchObject({ decision: { reason: "catchall_direct" }, smtp: { action: "reject", text: expect.stringContaining("collect replies") } });
  });

  it("refuses header injection and ambiguous input", async () => {
    const injected = await api("POST", "/v1/route-test", { from: "a@b.example", to: "c@d.example", headers: { Subject: "hi\r\nBcc: victim@x.example" } });
    expect(injected).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining("CR or LF") } } });
    expect((await api("POST", "/v1/route-test", { from: "a@b.example", to: "c@d.example", raw: "x", headers: {} })).status).toBe(400);
    expect((await api("POST", "/v1/route-test", { from: "a@b.example", to: "not-an-address" })).status).toBe(400);
  });
});
