/**
 * Incoming mail servers against a real Dovecot on loopback
 * (test/node/dovecot.ts): mailboxes filled by the tests, fetched over IMAP
 * and POP3 through the API, the queue and the cron, each message through
 * the same pipeline as `email()`, exactly once, also when a run is cut
 * off halfway; OAuth (XOAUTH2) with the local provider.
 */
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { Env } from "../src/env";
import type { Job } from "../src/queue/jobs";
import { api, clockedWorker, createAlias, findMessage, messagesFor, mime, ok, runJobs, runScheduled, setupDomain, unique, withBinding } from "./helpers";

const dovecot = inject("dovecot");

/** `env` whose queue only records the jobs (a fetch chain is driven by the test, not run in the background). */
function recordingQueue(base: Env = env): { env: Env; jobs: Job[] } {
  const jobs: Job[] = [];
  const take = async (list: Job[]) => {
    // As Queues does: at most 100 messages per sendBatch.
    if (list.length > 100) throw new Error(`sendBatch of ${list.length} messages: Queues takes at most 100`);
    jobs.push(...list);
  };
  const recorded = withBinding(base, "JOBS", { send: (_real, job: Job) => take([job]), sendBatch: (_real, batch: { body: Job }[]) => take(batch.map((m) => m.body)) });
  return {
    env: {
      ...recorded,
      OAUTH_GOOGLE_TOKEN_URL: `${dovecot.control}/oauth/google/token`,
      OAUTH_MICROSOFT_TOKEN_URL: `${dovecot.control}/oauth/microsoft/{tenant}/oauth2/v2.0/token`,
    },
    jobs,
  };
}

async function control<T = any>(method: string, path: string, body?: unknown, raw = false): Promise<T> {
  const response = await fetch(`${dovecot.control}${path}`, {
    method,
    ...(body !== undefined && { body: raw ? (body as string) : JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** A fresh Dovecot user with an empty mailbox. */
async function newUser(
  password: string | false = unique("pw"),
): Promise<{ user: string; password: string; oauth: Record<"google" | "microsoft", { client_id: string; client_secret: string; refresh_token: string }> }> {
  const made = await control("POST", "/users", { password });
  // The provider's grants name their user too; a server's OAuth settings are the client and the refresh token.
  const grant = ({ client_id, client_secret, refresh_token }: Record<string, string>) => ({ client_id, client_secret, refresh_token });
  return { ...made, oauth: { google: grant(made.oauth.google), microsoft: grant(made.oauth.microsoft) } };
}

async function put(user: string, raw: string, query = ""): Promise<void> {
  await control("POST", `/mailbox/${encodeURIComponent(user)}/messages${query}`, raw, true);
}

async function listed(user: string): Promise<{ uid: number; flags: string[]; message_id: string; subject: string }[]> {
  return control("GET", `/mailbox/${encodeURIComponent(user)}/messages`);
}

/** A domain with a store alias `inbox@` and the catchall; the alias's address is where fetched mail goes. */
async function storeDomain() {
  const domain = await setupDomain();
  await createAlias({ name: "inbox", domain, destinations: [{ type: "store" }] });
  return { domain, inbox: `inbox@${domain}` };
}

function serverBody(fields: Record<string, unknown>) {
  return { name: "mailbox", protocol: "imap", host: "127.0.0.1", port: dovecot.ports.imap, security: "starttls", ...fields };
}

/** Runs fetch jobs for the server until the chain ends (each run queues the next while mail waits); answers the runs made. */
async function drain(serverId: string, via: { env: Env; jobs: Job[] }, maxRuns = 1000): Promise<number> {
  let runs = 0;
  via.jobs.push({ kind: "fetch", id: serverId });
  while (via.jobs.length) {
    const job = via.jobs.shift()!;
    if (job.kind !== "fetch") continue;
    const result = await runJobs("fetch", [job.id], { env: via.env });
    expect(result.retried).toEqual([]);
    if (++runs > maxRuns) throw new Error("the fetch chain does not end");
  }
  return runs;
}

const seen = (m: { flags: string[] }) => m.flags.includes("\\Seen");

describe("the incoming servers API", { timeout: 60_000 }, () => {
  it("creates, shows, changes and deletes a server; credentials are sealed and never returned", async () => {
    const { inbox } = await storeDomain();
    const password = unique("sealed-password");
    const created = await ok("POST", "/v1/incoming-servers", serverBody({ username: "alice", password, deliver_to: inbox }), 201);
    expect(created).toMatchObject({ protocol: "imap", security: "starttls", folder: "INBOX", deliver_to: inbox, enabled: true, login: "password", oauth_provider: null });
    expect(created.status).toMatchObject({ fetching: false, last_fetch_at: null, last_error: null, fetched_total: 0 });
    const row = await env.DB.prepare("select * from incoming_servers where id = ?").bind(created.id).first();
    expect(JSON.stringify(row)).not.toContain(password);
    for (const answer of [created, await ok("GET", `/v1/incoming-servers/${created.id}`), await ok("GET", "/v1/incoming-servers")])
      expect(JSON.stringify(answer)).not.toContain(password);

    // Credentials never follow the server somewhere else.
    const moved = await api("PATCH", `/v1/incoming-servers/${created.id}`, { host: "localhost" });
    expect(moved.status).toBe(400);
    expect(moved.body.error.message).toMatch(/^invalid body: password: required again/);
    const renamed = await ok("PATCH", `/v1/incoming-servers/${created.id}`, { name: "renamed", enabled: false });
    expect(renamed).toMatchObject({ name: "renamed", enabled: false, port: dovecot.ports.imap });
    expect((await api("POST", `/v1/incoming-servers/${created.id}/fetch`)).status).toBe(409);
    expect((await api("DELETE", `/v1/incoming-servers/${created.id}`)).status).toBe(204);
    expect((await api("GET", `/v1/incoming-servers/${created.id}`)).status).toBe(404);
  });

  it("refuses what it could not use, naming the field", async () => {
    const { inbox } = await storeDomain();
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [serverBody({ username: "alice", deliver_to: inbox }), 400, /password: required/],
      [
        serverBody({ username: "alice", password: "x", oauth: { provider: "google", client_id: "a", client_secret: "b", refresh_token: "c" }, deliver_to: inbox }),
        400,
        /give one of them/,
      ],
      [serverBody({ username: "alice", password: "x", deliver_to: "someone@not-served.example" }), 422, /^deliver_to: someone@not-served\.example is not on a domain/],
      [serverBody({ username: "alice", password: "x", deliver_to: inbox, protocol: "pop3", folder: "Archive" }), 400, /folder: POP3 has no folders/],
      [serverBody({ username: "alice", password: "x", deliver_to: inbox, protocol: "smtp" }), 400, /protocol/],
      [serverBody({ username: "alice", password: "x", deliver_to: inbox, oauth: undefined, host: "bad host" }), 400, /host/],
    ];
    for (const [body, status, message] of cases) {
      const answer = await api("POST", "/v1/incoming-servers", body);
      expect({ body, status: answer.status }).toMatchObject({ body, status });
      expect(answer.body.error.message).toMatch(message);
    }
    // Without ALLOW_PRIVATE_WEBHOOKS: no loopback host, no plaintext.
    const strict = { env: { ...env, ALLOW_PRIVATE_WEBHOOKS: undefined } as Env };
    const loopback = await api("POST", "/v1/incoming-servers", serverBody({ username: "alice", password: "x", deliver_to: inbox }), undefined, {}, strict);
    expect(loopback.status).toBe(400);
    expect(loopback.body.error.message).toMatch(/^invalid body: host: must not point to a private, loopback/);
    const plaintext = await api(
      "POST",
      "/v1/incoming-servers",
      serverBody({ username: "alice", password: "x", deliver_to: inbox, host: "imap.example.com", security: "none" }),
      undefined,
      {},
      strict,
    );
    expect(plaintext.status).toBe(400);
    expect(plaintext.body.error.message).toMatch(/^invalid body: security: must be tls or starttls/);
  });

  it("tests a server without changing anything, and names what failed without repeating the password", async () => {
    const { inbox } = await storeDomain();
    const { user, password } = await newUser();
    await put(user, mime({ Subject: "one", "Message-ID": `<${unique("t")}@test>` }));
    await put(user, mime({ Subject: "two", "Message-ID": `<${unique("t")}@test>` }), "?flags=%5CSeen");
    for (const [protocol, security, port, expected] of [
      ["imap", "starttls", dovecot.ports.imap, { count: 2, unseen: 1 }],
      ["imap", "tls", dovecot.ports.imaps, { count: 2, unseen: 1 }],
      ["pop3", "starttls", dovecot.ports.pop3, { count: 2, unseen: 2 }],
      ["pop3", "tls", dovecot.ports.pop3s, { count: 2, unseen: 2 }],
    ] as const) {
      const server = await ok("POST", "/v1/incoming-servers", serverBody({ protocol, security, port, username: user, password, deliver_to: inbox }), 201);
      expect(await ok("POST", `/v1/incoming-servers/${server.id}/test`), `${protocol} ${security}`).toEqual({ ok: true, ...expected });
    }
    expect((await listed(user)).map(seen)).toEqual([false, true]);

    const wrong = unique("wrong-password");
    for (const protocol of ["imap", "pop3"] as const) {
      const server = await ok("POST", "/v1/incoming-servers", serverBody({ protocol, port: dovecot.ports[protocol], username: user, password: wrong, deliver_to: inbox }), 201);
      const answer = await ok("POST", `/v1/incoming-servers/${server.id}/test`);
      expect(answer.ok).toBe(false);
      expect(answer.error).toMatch(/refused/);
      expect(answer.error).toContain(user);
      expect(answer.error).not.toContain(wrong);
    }
    const folder = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, password, folder: "Nowhere", deliver_to: inbox }), 201);
    expect((await ok("POST", `/v1/incoming-servers/${folder.id}/test`)).error).toMatch(/cannot open the folder Nowhere/);
    // Strict TLS: a certificate nobody vouches for (Postfix's self-signed implicit-TLS port) ends the session before the login.
    const postfix = inject("postfix");
    for (const protocol of ["imap", "pop3"] as const) {
      const untrusted = await ok(
        "POST",
        "/v1/incoming-servers",
        serverBody({ protocol, security: "tls", port: postfix.ports.implicit_untrusted, username: user, password, deliver_to: inbox }),
        201,
      );
      const answer = await ok("POST", `/v1/incoming-servers/${untrusted.id}/test`);
      expect(answer, protocol).toMatchObject({ ok: false, error: expect.stringMatching(/^TLS with 127\.0\.0\.1:\d+ \(implicit TLS\) failed: .*not a trusted root/) });
      expect(answer.error).not.toContain(password);
    }
    const closed = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, password, port: 1, deliver_to: inbox }), 201);
    expect((await ok("POST", `/v1/incoming-servers/${closed.id}/test`)).error).toMatch(/127\.0\.0\.1:1/);
  });
});

describe("fetching", { timeout: 120_000 }, () => {
  it("takes unseen IMAP mail through the pipeline once, marks it \\Seen after recording, and records a refusal without mailing it back", async () => {
    const { domain, inbox } = await storeDomain();
    const { user, password } = await newUser();
    const ids = [unique("a"), unique("b")].map((id) => `<${id}@sender.example>`);
    await put(user, mime({ From: "Ann <ann@sender.example>", To: inbox, Subject: "first", "Message-ID": ids[0], "Return-Path": "<bounces+ann@sender.example>" }));
    await put(user, mime({ From: "bob@sender.example", To: inbox, Subject: "second", "Message-ID": ids[1] }));
    const old = `<${unique("old")}@sender.example>`;
    await put(user, mime({ From: "bob@sender.example", Subject: "read already", "Message-ID": old }), "?flags=%5CSeen");
    const via = recordingQueue();
    const sent = withBinding(via.env, "EMAIL", { send: () => Promise.reject(new Error("nothing is mailed")) });
    const server = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, password, deliver_to: inbox }), 201);

    const asked = await api("POST", `/v1/incoming-servers/${server.id}/fetch`, undefined, undefined, {}, { env: via.env });
    expect(asked).toMatchObject({ status: 202, body: { queued: true } });
    expect(via.jobs).toEqual([{ kind: "fetch", id: server.id }]);
    expect((await ok("GET", `/v1/incoming-servers/${server.id}`)).status.fetching).toBe(true);
    via.jobs.length = 0;
    expect(await drain(server.id, { env: sent, jobs: via.jobs })).toBe(1);

    const first = await findMessage(ids[0]!);
    expect(first).toMatchObject({ status: "accepted", mail_from: "bounces+ann@sender.example", rcpt_to: inbox, fetched_from: server.id, subject: "first" });
    expect((await findMessage(ids[1]!)).mail_from).toBe("bob@sender.example");
    expect(await messagesFor(old)).toEqual([]);
    expect((await listed(user)).map(seen)).toEqual([true, true, true]);
    const status = (await ok("GET", `/v1/incoming-servers/${server.id}`)).status;
    expect(status).toMatchObject({ fetching: false, fetched_total: 2, last_error: null, last_counts: { fetched: 2, accepted: 2, refused: 0, dropped: 0, remaining: 0 } });

    // Mail to the catchall straight away is refused, as email() would: recorded, and nobody is mailed.
    const catchall = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, password, deliver_to: `catchall@${domain}` }), 201);
    const direct = `<${unique("direct")}@sender.example>`;
    await put(user, mime({ From: "carl@sender.example", To: `catchall@${domain}`, Subject: "hello", "Message-ID": direct }));
    await drain(catchall.id, { env: sent, jobs: [] });
    const refused = await findMessage(direct);
    expect(refused.status).toBe("refused");
    expect(refused.decision).toMatchObject({ reason: "catchall_direct", recorded_only: true });
    expect((await listed(user)).every(seen)).toBe(true);
  });

  it("takes POP3 mail and deletes it only after recording it", async () => {
    const { inbox } = await storeDomain();
    const { user, password } = await newUser();
    const ids = [1, 2, 3].map((i) => `<${unique(`pop${i}`)}@sender.example>`);
    for (const id of ids) await put(user, mime({ From: "pat@sender.example", To: inbox, Subject: "pop", "Message-ID": id }));
    const server = await ok(
      "POST",
      "/v1/incoming-servers",
      serverBody({ protocol: "pop3", port: dovecot.ports.pop3s, security: "tls", username: user, password, deliver_to: inbox }),
      201,
    );
    await drain(server.id, recordingQueue());
    expect((await ok("GET", `/v1/incoming-servers/${server.id}`)).status.last_error).toBeNull();
    for (const id of ids) expect(await messagesFor(id)).toHaveLength(1);
    expect(await listed(user)).toEqual([]);

    // A store failing on one message: the others go on, and that one is taken by the next run.
    const more = [4, 5, 6].map((i) => `<${unique(`pop${i}`)}@sender.example>`);
    for (const id of more) await put(user, mime({ From: "pat@sender.example", To: inbox, Subject: "pop", "Message-ID": id }));
    let stored = 0;
    const failing = withBinding(recordingQueue().env, "RAW", {
      put: (real, ...args) => {
        if (++stored === 3) throw new Error("R2 is down");
        return real(...args);
      },
    });
    // The store fails on the third message: the first two are taken (deleted at QUIT), the third stays for the next run.
    const cut = await runJobs("fetch", [server.id], { env: failing });
    expect(cut.retried).toEqual([]);
    expect(await listed(user)).toHaveLength(1);
    const status = (await ok("GET", `/v1/incoming-servers/${server.id}`)).status;
    expect(status.last_error).toMatch(/^1 message\(s\) could not be taken and stay unread for the next run: .*R2 is down/);
    expect(status.last_counts).toMatchObject({ fetched: 2, failed: 1, remaining: 1 });
    await drain(server.id, recordingQueue());
    for (const id of more) expect(await messagesFor(id)).toHaveLength(1);
    expect(await listed(user)).toEqual([]);

    // Another account: the UIDLs noted for this one go (a UIDL there that happened to match one would be deleted unread).
    const notes = () => env.DB.prepare("select count(*) as n from incoming_fetched where server_id = ?").bind(server.id).first<{ n: number }>();
    expect((await notes())!.n).toBeGreaterThan(0);
    const other = await newUser();
    await ok("PATCH", `/v1/incoming-servers/${server.id}`, { username: other.user, password: other.password });
    expect((await notes())!.n).toBe(0);
  });

  it("resumes an IMAP fetch cut off halfway without routing anything twice", async () => {
    const { inbox } = await storeDomain();
    const { user, password } = await newUser();
    const ids = [1, 2, 3, 4, 5].map((i) => `<${unique(`cut${i}`)}@sender.example>`);
    for (const id of ids) await put(user, mime({ From: "cut@sender.example", To: inbox, Subject: "cut", "Message-ID": id }));
    const server = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, password, deliver_to: inbox }), 201);

    // 1. The raw store is down: three messages fail in a row, the run stops there and the queue retries it.
    const r2Down = withBinding(recordingQueue().env, "RAW", { put: () => Promise.reject(new Error("R2 is down")) });
    expect((await runJobs("fetch", [server.id], { env: r2Down })).retried).toHaveLength(1);
    expect((await listed(user)).map(seen)).toEqual([false, false, false, false, false]);
    expect((await ok("GET", `/v1/incoming-servers/${server.id}`)).status.last_counts).toMatchObject({ fetched: 0, failed: 3 });

    // 2. The store fails on the third message only: the others go on; that one stays unread.
    let puts = 0;
    const r2Flaky = withBinding(recordingQueue().env, "RAW", {
      put: (real, ...args) => {
        if (++puts === 3) throw new Error("R2 is down");
        return real(...args);
      },
    });
    expect((await runJobs("fetch", [server.id], { env: r2Flaky })).retried).toEqual([]);
    expect((await listed(user)).map(seen)).toEqual([true, true, false, true, true]);

    // 3. Cut between the record and its note: the message is recorded, neither noted nor marked.
    let notes = 0;
    const noteFails = withBinding(recordingQueue().env, "DB", {
      prepare: (real, query: string) => {
        if (/^insert into "incoming_fetched"/i.test(query) && ++notes === 1) throw new Error("D1 went away");
        return real(query);
      },
    });
    expect((await runJobs("fetch", [server.id], { env: noteFails })).retried).toEqual([]);
    expect(await messagesFor(ids[2]!)).toHaveLength(1);
    expect((await listed(user)).map(seen)).toEqual([true, true, false, true, true]);

    // 4. The next run finds it already recorded (the same delivery: the Message-ID check), and takes the rest.
    await drain(server.id, recordingQueue());
    for (const id of ids) expect(await messagesFor(id), id).toHaveLength(1);
    expect((await findMessage(ids[2]!)).events.map((e: { type: string }) => e.type)).toContain("redelivered");
    expect((await listed(user)).every(seen)).toBe(true);
  });

  it("one run at a time: a second run while the first holds the server does nothing", async () => {
    const { inbox } = await storeDomain();
    const { user, password } = await newUser();
    await control("POST", `/mailbox/${user}/fill`, { count: 20 });
    const server = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, password, deliver_to: inbox }), 201);
    const via = recordingQueue();
    const results = await Promise.all([runJobs("fetch", [server.id], { env: via.env }), runJobs("fetch", [server.id], { env: via.env })]);
    expect(results.flatMap((r) => r.retried)).toEqual([]);
    const status = (await ok("GET", `/v1/incoming-servers/${server.id}`)).status;
    expect(status).toMatchObject({ last_error: null });
    expect(status.fetched_total).toBe(20);
    expect((await listed(user)).every(seen)).toBe(true);
    const [first, last] = (await listed(user)).map((m) => m.message_id).filter((_, i, all) => i === 0 || i === all.length - 1);
    expect(await messagesFor(first!)).toHaveLength(1);
    expect(await messagesFor(last!)).toHaveLength(1);
  });

  it("records a message over 25 MiB as refused, leaves it in the mailbox, and does not record it again", async () => {
    const { inbox } = await storeDomain();
    const { user, password } = await newUser();
    const big = `<${unique("big")}@sender.example>`;
    const line = `${"x".repeat(998)}\r\n`;
    await put(user, mime({ From: "big@sender.example", To: inbox, Subject: "huge", "Message-ID": big }, line.repeat(Math.ceil((25 * 1024 * 1024 + 1) / line.length))));
    const small = `<${unique("small")}@sender.example>`;
    await put(user, mime({ From: "big@sender.example", To: inbox, Subject: "small", "Message-ID": small }));
    const server = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, password, deliver_to: inbox }), 201);
    await drain(server.id, recordingQueue());
    const refused = await findMessage(big);
    expect(refused).toMatchObject({ status: "refused", subject: "huge", fetched_from: server.id });
    expect(refused.decision).toMatchObject({ reason: "too_large", limit: 25 * 1024 * 1024, recorded_only: true });
    expect(refused.decision.size).toBeGreaterThan(25 * 1024 * 1024);
    expect((await listed(user)).map(seen)).toEqual([false, true]);
    await drain(server.id, recordingQueue());
    expect(await messagesFor(big)).toHaveLength(1);
    expect((await ok("GET", `/v1/incoming-servers/${server.id}`)).status.last_counts).toMatchObject({ fetched: 0, remaining: 0 });
  });

  it("the cron asks for a fetch of every enabled server no run holds", async () => {
    const { inbox } = await storeDomain();
    const { user, password } = await newUser();
    const enabled = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, password, deliver_to: inbox }), 201);
    const disabled = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, password, deliver_to: inbox, enabled: false }), 201);
    const via = recordingQueue();
    await runScheduled(clockedWorker(), via.env);
    const fetches = via.jobs.filter((j) => j.kind === "fetch").map((j) => j.id);
    expect(fetches).toContain(enabled.id);
    expect(fetches).not.toContain(disabled.id);
  });

  it("the cron queues the fetches of more servers than one sendBatch takes", async () => {
    const { inbox } = await storeDomain();
    const { user, password } = await newUser();
    const many = await Promise.all(Array.from({ length: 120 }, () => ok("POST", "/v1/incoming-servers", serverBody({ username: user, password, deliver_to: inbox }), 201)));
    const via = recordingQueue();
    await runScheduled(clockedWorker(), via.env);
    const fetches = new Set(via.jobs.filter((j) => j.kind === "fetch").map((j) => j.id));
    for (const server of many) expect(fetches.has(server.id)).toBe(true);
    // Asked for: each shows it until a run takes it.
    expect((await ok("GET", `/v1/incoming-servers/${many[0].id}`)).status.fetching).toBe(true);
  });
});

describe("OAuth (XOAUTH2)", { timeout: 60_000 }, () => {
  for (const provider of ["google", "microsoft"] as const) {
    it(`logs in to IMAP and POP3 with a ${provider} refresh token, asking for an access token once`, async () => {
      const { inbox } = await storeDomain();
      const { user, oauth } = await newUser(false);
      const id = `<${unique("oauth")}@sender.example>`;
      await put(user, mime({ From: "o@sender.example", To: inbox, Subject: "oauth", "Message-ID": id }));
      const via = recordingQueue();
      const before = (await control<any[]>("GET", `/oauth/log?provider=${provider}&kind=token`)).length;
      const imap = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, oauth: { provider, ...oauth[provider] }, deliver_to: inbox }), 201);
      expect(imap).toMatchObject({ login: "oauth", oauth_provider: provider });
      expect(JSON.stringify(imap)).not.toContain(oauth[provider].refresh_token);
      expect(await api("POST", `/v1/incoming-servers/${imap.id}/test`, undefined, undefined, {}, { env: via.env })).toMatchObject({ body: { ok: true, count: 1, unseen: 1 } });
      await drain(imap.id, via);
      expect(await messagesFor(id)).toHaveLength(1);
      const tokens = (await control<any[]>("GET", `/oauth/log?provider=${provider}&kind=token`)).slice(before);
      expect(tokens).toHaveLength(1);
      expect(tokens[0]).toMatchObject({
        status: 200,
        content_type: "application/x-www-form-urlencoded",
        form: { grant_type: "refresh_token", client_id: oauth[provider].client_id },
      });

      const pop = await ok(
        "POST",
        "/v1/incoming-servers",
        serverBody({ protocol: "pop3", port: dovecot.ports.pop3, username: user, oauth: { provider, ...oauth[provider] }, deliver_to: inbox }),
        201,
      );
      expect(await api("POST", `/v1/incoming-servers/${pop.id}/test`, undefined, undefined, {}, { env: via.env })).toMatchObject({ body: { ok: true, count: 1 } });
    });
  }

  it("a revoked refresh token shows as a clear error on the server", async () => {
    const { inbox } = await storeDomain();
    const { user, oauth } = await newUser(false);
    const server = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, oauth: { provider: "google", ...oauth.google }, deliver_to: inbox }), 201);
    await control("POST", "/oauth/revoke", { refresh_token: oauth.google.refresh_token });
    const via = recordingQueue();
    await drain(server.id, via);
    const status = (await ok("GET", `/v1/incoming-servers/${server.id}`)).status;
    expect(status.last_error).toMatch(/^OAuth: Google refused the refresh token \(invalid_grant: Token has been expired or revoked\.\)/);
    // The request is over (it failed on the provider's side); the next cron asks again.
    expect(status.fetching).toBe(false);
    expect(status.last_error).not.toContain(oauth.google.refresh_token);
    const tested = await api("POST", `/v1/incoming-servers/${server.id}/test`, undefined, undefined, {}, { env: via.env });
    expect(tested.body).toMatchObject({ ok: false, error: expect.stringMatching(/revoked or expired: authorize again/) });
  });

  it("an access token revoked before it expires is dropped and a fresh one tried once", async () => {
    const { inbox } = await storeDomain();
    const { user, oauth } = await newUser(false);
    const server = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, oauth: { provider: "microsoft", ...oauth.microsoft }, deliver_to: inbox }), 201);
    const via = recordingQueue();
    expect((await api("POST", `/v1/incoming-servers/${server.id}/test`, undefined, undefined, {}, { env: via.env })).body.ok).toBe(true);
    await control("POST", "/oauth/expire", { user });
    expect((await api("POST", `/v1/incoming-servers/${server.id}/test`, undefined, undefined, {}, { env: via.env })).body.ok).toBe(true);
    const tokens = (await control<any[]>("GET", "/oauth/log?provider=microsoft&kind=token")).filter((t) => t.form?.client_id === oauth.microsoft.client_id);
    expect(tokens.length).toBeGreaterThanOrEqual(2);
  });
});

describe("a mailbox of 10,000 unseen messages", () => {
  it("drains across runs of at most 50 messages, each exactly once", { timeout: 600_000 }, async () => {
    const domain = await setupDomain();
    const { user, password } = await newUser();
    const filled = await control("POST", `/mailbox/${user}/fill`, { count: 10_000 });
    expect(filled.count).toBe(10_000);
    // To an address with no alias: refused and recorded (the cheapest path through the pipeline).
    const server = await ok("POST", "/v1/incoming-servers", serverBody({ username: user, password, deliver_to: `nobody@${domain}` }), 201);
    const via = recordingQueue();
    const runs = await drain(server.id, via, 400);
    expect(runs).toBe(200);
    const count = await env.DB.prepare("select count(*) as n, count(distinct message_id) as d from messages where fetched_from = ?")
      .bind(server.id)
      .first<{ n: number; d: number }>();
    expect(count).toEqual({ n: 10_000, d: 10_000 });
    const status = (await ok("GET", `/v1/incoming-servers/${server.id}`)).status;
    expect(status).toMatchObject({ fetched_total: 10_000, last_counts: { remaining: 0 }, last_error: null });
    expect((await listed(user)).filter((m) => !seen(m))).toEqual([]);
  });
});
