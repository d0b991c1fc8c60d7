/**
 * Incoming mail servers (Odoo's Fetchmail): the mailboxes mailgate fetches
 * over IMAP or POP3, each with its status (last fetch, what it took and how
 * that was decided, the last error); a form to add one; a server's page to
 * change it, test the login (`POST …/test`, changing nothing), fetch now
 * (`POST …/fetch`), enable, disable or delete it. Credentials are
 * write-only: the page says how the server logs in, never with what.
 */
import { apiCall, apiGet, apiMessage } from "../api-client";
import { Field, type FieldOption, PostForm, StatusBadge, Table, Timestamp } from "../components";
import { ActionButton, CheckField, FlashMessages, formOf, intField, redirectWith, refill, refusalOf, succeeded, takeFlash } from "../forms";
import { Page, render } from "../layout";
import type { ConsoleApp, ConsoleContext, Session } from "../session";

interface Counts {
  fetched: number;
  accepted: number;
  refused: number;
  dropped: number;
  remaining: number;
}

interface IncomingServer {
  id: string;
  name: string;
  protocol: "imap" | "pop3";
  host: string;
  port: number;
  security: "tls" | "starttls" | "none";
  username: string;
  folder: string;
  deliver_to: string;
  enabled: boolean;
  login: "password" | "oauth";
  oauth_provider: "google" | "microsoft" | null;
  status: {
    fetching: boolean;
    last_fetch_at: string | null;
    last_counts: Counts | null;
    fetched_total: number;
    last_error: string | null;
    last_error_at: string | null;
  };
}

type TestAnswer = { ok: true; count: number; unseen: number } | { ok: false; error: string };

const PROTOCOLS: FieldOption[] = [
  { value: "imap", label: "IMAP" },
  { value: "pop3", label: "POP3" },
];

const SECURITY: FieldOption[] = [
  { value: "tls", label: "TLS (993, 995)" },
  { value: "starttls", label: "STARTTLS (143, 110)" },
  { value: "none", label: "None (local tests only)" },
];

const serverPath = (id: string) => `/incoming-servers/${encodeURIComponent(id)}`;

function countsText(counts: Counts | null): string {
  if (!counts) return "–";
  return `${counts.fetched} fetched: ${counts.accepted} accepted, ${counts.refused} refused, ${counts.dropped} dropped; ${counts.remaining} waiting`;
}

function loginText(server: IncomingServer): string {
  return server.login === "oauth" ? `OAuth (${server.oauth_provider ?? "?"})` : "password";
}

function ServerFields({ values, editing }: { values: Record<string, string>; editing: boolean }) {
  return (
    <>
      <Field label="Name" name="name" required value={values.name} autocomplete="off" />
      <Field label="Protocol" name="protocol" options={PROTOCOLS} value={values.protocol ?? "imap"} />
      <Field label="Host" name="host" required value={values.host} placeholder="imap.example.com" autocomplete="off" />
      <Field label="Port" name="port" type="number" inputmode="numeric" min={1} max={65535} value={values.port} hint="Empty: 993/143 for IMAP, 995/110 for POP3, by security" />
      <Field label="Security" name="security" options={SECURITY} value={values.security ?? "tls"} />
      <Field label="User name" name="username" required value={values.username} autocomplete="off" />
      <Field
        label="Password"
        name="password"
        type="password"
        autocomplete="new-password"
        hint={
          editing ? "Leave empty to keep the stored one (needed again when protocol, host, port, security or user name change)" : "Or OAuth below; stored sealed, never shown again"
        }
      />
      <Field
        label="OAuth (JSON)"
        name="oauth"
        multiline
        value={values.oauth}
        placeholder={'{"provider": "google", "client_id": "…", "client_secret": "…", "refresh_token": "…"}'}
        hint="Instead of a password: Gmail or Microsoft 365 (tenant for Microsoft)"
      />
      <Field label="Folder" name="folder" value={values.folder} hint="IMAP only; empty: INBOX" autocomplete="off" />
      <Field
        label="Deliver to"
        name="deliver_to"
        type="email"
        required
        value={values.deliver_to}
        hint="An address on a domain mailgate serves: fetched mail counts as sent to it"
        autocomplete="off"
      />
      <CheckField name="enabled" label="Enabled" checked={values.name === undefined || values.enabled === "on"} />
    </>
  );
}

/** The body for the API from the form: empty optional fields left out; the password and OAuth only when given. */
function serverBody(form: Record<string, string>): Record<string, unknown> | string {
  const body: Record<string, unknown> = {
    name: form.name ?? "",
    protocol: form.protocol,
    host: form.host?.trim() ?? "",
    security: form.security,
    username: form.username ?? "",
    deliver_to: form.deliver_to?.trim() ?? "",
    enabled: form.enabled === "on",
  };
  const port = intField(form.port);
  if (Number.isNaN(port)) return "Port: must be a whole number.";
  if (port !== undefined) body.port = port;
  if (form.folder?.trim()) body.folder = form.folder.trim();
  if (form.password) body.password = form.password;
  if (form.oauth?.trim()) {
    try {
      body.oauth = JSON.parse(form.oauth);
    } catch {
      return "OAuth (JSON): is not JSON.";
    }
  }
  return body;
}

function ServerTable({ servers, session }: { servers: IncomingServer[]; session: Session }) {
  if (!servers.length) return <p class="muted">No incoming servers: mail reaches mailgate through Cloudflare Email Routing only.</p>;
  return (
    <Table
      caption="Mailboxes mailgate fetches"
      columns={["Name", "Mailbox", "Delivers to", "State", "Last fetch", "Last run", "Fetched in all", "Last error", "Actions"]}
      numeric={[6]}
    >
      {servers.map((server) => (
        <tr>
          <th scope="row">
            <a href={serverPath(server.id)}>{server.name}</a>
          </th>
          <td>{`${server.protocol.toUpperCase()} ${server.username} at ${server.host}:${server.port}`}</td>
          <td>{server.deliver_to}</td>
          <td>
            <StatusBadge status={server.enabled ? "enabled" : "disabled"} /> {server.status.fetching ? <StatusBadge status="fetching" tone="info" /> : null}
          </td>
          <td>
            <Timestamp at={server.status.last_fetch_at} />
          </td>
          <td>{countsText(server.status.last_counts)}</td>
          <td class="num">{server.status.fetched_total}</td>
          <td>
            {server.status.last_error ? (
              <>
                {server.status.last_error} (<Timestamp at={server.status.last_error_at} />)
              </>
            ) : (
              <span class="muted">none</span>
            )}
          </td>
          <td>
            <ActionButton
              action={`${serverPath(server.id)}/fetch`}
              session={session}
              fields={{ back: "/incoming-servers" }}
              text="Fetch now"
              label={`Fetch now from ${server.name}`}
            />
          </td>
        </tr>
      ))}
    </Table>
  );
}

async function serversPage(c: ConsoleContext): Promise<Response> {
  const flash = await takeFlash(c);
  const list = await apiGet<{ items: IncomingServer[] }>(c, "/v1/incoming-servers");
  const session = c.get("session");
  return render(
    c,
    <Page title="Incoming servers" active="/incoming-servers" session={session}>
      <h1>Incoming servers</h1>
      <FlashMessages flash={flash} />
      <p class="hint">Mailboxes mailgate fetches every 5 minutes (IMAP unseen mail, or a POP3 maildrop), routing each message as if it had arrived by Email Routing.</p>
      <ServerTable servers={list.items} session={session} />
      <section aria-labelledby="add-server">
        <h2 id="add-server">Add an incoming server</h2>
        <PostForm action="/incoming-servers" session={session} class="stack">
          <ServerFields values={refill(flash, "add-server")} editing={false} />
          <div>
            <button type="submit">Add server</button>
          </div>
        </PostForm>
      </section>
    </Page>,
  );
}

async function serverPage(c: ConsoleContext): Promise<Response> {
  const id = c.req.param("id")!;
  const flash = await takeFlash(c);
  const server = await apiGet<IncomingServer>(c, `/v1/incoming-servers/${encodeURIComponent(id)}`);
  const session = c.get("session");
  const current: Record<string, string> = {
    name: server.name,
    protocol: server.protocol,
    host: server.host,
    port: String(server.port),
    security: server.security,
    username: server.username,
    folder: server.protocol === "imap" ? server.folder : "",
    deliver_to: server.deliver_to,
    enabled: server.enabled ? "on" : "",
  };
  return render(
    c,
    <Page title={server.name} active="/incoming-servers" session={session}>
      <p>
        <a href="/incoming-servers">Incoming servers</a>
      </p>
      <h1>{server.name}</h1>
      <FlashMessages flash={flash} />
      <dl class="facts">
        <dt>Mailbox</dt>
        <dd>{`${server.protocol.toUpperCase()} ${server.username} at ${server.host}:${server.port} (${server.security})${server.protocol === "imap" ? `, folder ${server.folder}` : ""}`}</dd>
        <dt>Logs in with</dt>
        <dd>{loginText(server)}</dd>
        <dt>Delivers to</dt>
        <dd>{server.deliver_to}</dd>
        <dt>State</dt>
        <dd>
          <StatusBadge status={server.enabled ? "enabled" : "disabled"} /> {server.status.fetching ? <StatusBadge status="fetching" tone="info" /> : null}
        </dd>
        <dt>Last fetch</dt>
        <dd>
          <Timestamp at={server.status.last_fetch_at} />
        </dd>
        <dt>Last run</dt>
        <dd>{countsText(server.status.last_counts)}</dd>
        <dt>Fetched in all</dt>
        <dd>{server.status.fetched_total}</dd>
        <dt>Last error</dt>
        <dd>
          {server.status.last_error ? (
            <>
              {server.status.last_error} (<Timestamp at={server.status.last_error_at} />)
            </>
          ) : (
            "none"
          )}
        </dd>
      </dl>
      <section aria-labelledby="server-actions">
        <h2 id="server-actions">Test and fetch</h2>
        <div class="actions">
          <ActionButton action={`${serverPath(server.id)}/test`} session={session} text="Test login" label={`Test login to ${server.name}`} />
          <ActionButton action={`${serverPath(server.id)}/fetch`} session={session} text="Fetch now" label={`Fetch now from ${server.name}`} />
        </div>
      </section>
      <section aria-labelledby="edit-server">
        <h2 id="edit-server">Change this server</h2>
        <PostForm action={serverPath(server.id)} session={session} class="stack">
          <ServerFields values={{ ...current, ...refill(flash, "edit-server") }} editing />
          <div>
            <button type="submit">Save server</button>
          </div>
        </PostForm>
      </section>
      <section aria-labelledby="delete-server">
        <h2 id="delete-server">Delete this server</h2>
        <p class="hint">The mail it fetched stays.</p>
        <ActionButton action={`${serverPath(server.id)}/delete`} session={session} text="Delete server" label={`Delete server ${server.name}`} danger />
      </section>
    </Page>,
  );
}

/** Adds the incoming servers pages' routes to the console (src/console/app.tsx). */
export function register(app: ConsoleApp): void {
  app.get("/incoming-servers", serversPage);

  app.post("/incoming-servers", async (c) => {
    const form = await formOf(c);
    const fail = (refusal: string) => redirectWith(c, "/incoming-servers", { refusal: `The server was not added: ${refusal}`, form: "add-server", values: form });
    const body = serverBody(form);
    if (typeof body === "string") return fail(body);
    const answer = await apiCall<IncomingServer>(c, "POST", "/v1/incoming-servers", body);
    if (!succeeded(answer)) return fail(apiMessage(answer));
    return redirectWith(c, serverPath(answer.body.id), { notice: `The server ${answer.body.name} was added: test its login below.` });
  });

  app.get("/incoming-servers/:id", serverPage);

  app.post("/incoming-servers/:id", async (c) => {
    const id = c.req.param("id");
    const form = await formOf(c);
    const fail = (refusal: string) => redirectWith(c, serverPath(id), { refusal: `The server was not saved: ${refusal}`, form: "edit-server", values: form });
    const body = serverBody(form);
    if (typeof body === "string") return fail(body);
    const answer = await apiCall<IncomingServer>(c, "PATCH", `/v1/incoming-servers/${encodeURIComponent(id)}`, body);
    if (!succeeded(answer)) return fail(apiMessage(answer));
    return redirectWith(c, serverPath(id), { notice: `The server ${answer.body.name} was saved.` });
  });

  app.post("/incoming-servers/:id/test", async (c) => {
    const id = c.req.param("id");
    const answer = await apiCall<TestAnswer>(c, "POST", `/v1/incoming-servers/${encodeURIComponent(id)}/test`);
    if (!succeeded(answer)) return redirectWith(c, serverPath(id), { refusal: refusalOf("The login was not tested", answer) });
    const result = answer.body;
    return redirectWith(
      c,
      serverPath(id),
      result.ok
        ? { notice: `The login works: ${result.count} message${result.count === 1 ? "" : "s"} in the mailbox, ${result.unseen} to fetch. Nothing was changed.` }
        : { refusal: `The login test failed: ${result.error}` },
    );
  });

  app.post("/incoming-servers/:id/fetch", async (c) => {
    const id = c.req.param("id");
    const form = await formOf(c);
    const back = form.back === "/incoming-servers" ? "/incoming-servers" : serverPath(id);
    const answer = await apiCall<{ queued: boolean }>(c, "POST", `/v1/incoming-servers/${encodeURIComponent(id)}/fetch`);
    if (!succeeded(answer)) return redirectWith(c, back, { refusal: refusalOf("The fetch was not started", answer) });
    return redirectWith(c, back, {
      notice: answer.body.queued
        ? "The fetch has started in the background: reload to see its progress."
        : "The queue did not take the fetch just now: the next scheduled run (within 5 minutes) fetches.",
    });
  });

  app.post("/incoming-servers/:id/delete", async (c) => {
    const id = c.req.param("id");
    const answer = await apiCall(c, "DELETE", `/v1/incoming-servers/${encodeURIComponent(id)}`);
    if (!succeeded(answer)) return redirectWith(c, serverPath(id), { refusal: refusalOf("The server was not deleted", answer) });
    return redirectWith(c, "/incoming-servers", { notice: "The incoming server was deleted; the mail it fetched stays." });
  });
}
