/**
 * Relays (Odoo's outgoing mail servers): the list by sequence with a button
 * to enable or disable each, a form to add one (SMTP fields, or a JSON
 * settings box for the providers), and a relay's page: its settings, a
 * form to change them, and its two tests, "Test connection"
 * (`POST /v1/relays/{id}/test`) and "Send a test message"
 * (`POST /v1/relays/{id}/test-message`), whose answer (the SMTP
 * transcript or reply, or the provider's answer) is shown as the relay gave it.
 * Credentials are write-only: the page shows which are stored, never them.
 */
import { apiCall, apiGet, apiMessage } from "../api-client";
import { Field, type FieldOption, Notice, PostForm, Refusal, StatusBadge, Table } from "../components";
import { ActionButton, CheckField, type Flash, FlashMessages, formOf, intField, redirectWith, refill, refusalOf, succeeded, takeFlash } from "../forms";
import { Page, render } from "../layout";
import type { ConsoleApp, ConsoleContext, Session } from "../session";

type RelayType = "cloudflare" | "smtp" | "postmark" | "resend" | "ses" | "mailgun" | "sendgrid";

interface Relay {
  id: string;
  name: string;
  type: RelayType;
  from_filter: string | null;
  sequence: number;
  stream: "transactional" | "mass";
  daily_limit: number | null;
  enabled: boolean;
  config: Record<string, unknown>;
  secrets_set: string[];
  max_size: number;
}

type ProbeAnswer = { ok: true; answer: string } | { ok: false; error: string; code?: string | null; answer?: string };
type TestMessageAnswer = { ok: true; answer: string; message_id: string; from?: string } | { ok: false; error: string; code?: string | null; message_id?: string; from?: string };

const TYPES: FieldOption[] = [
  { value: "cloudflare", label: "Cloudflare Email Service" },
  { value: "smtp", label: "SMTP server" },
  { value: "postmark", label: "Postmark" },
  { value: "resend", label: "Resend" },
  { value: "ses", label: "Amazon SES" },
  { value: "mailgun", label: "Mailgun" },
  { value: "sendgrid", label: "SendGrid" },
];

const STREAMS: FieldOption[] = [
  { value: "transactional", label: "Transactional" },
  { value: "mass", label: "Mass" },
];

const SECURITY: FieldOption[] = [
  { value: "starttls", label: "STARTTLS (587, 2525)" },
  { value: "tls", label: "TLS (465)" },
  { value: "none", label: "None (local tests only)" },
];

const relayPath = (id: string) => `/relays/${encodeURIComponent(id)}`;

/** Where a relay's small forms go back to: the list or the relay's page (never elsewhere). */
function backTo(value: string | undefined, id: string): string {
  return value === "/relays" ? "/relays" : relayPath(id);
}

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

/** A JSON object typed into a form, or the refusal naming the field. */
function jsonObject(label: string, text: string | undefined): Record<string, unknown> | string {
  if (!text?.trim()) return {};
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Said below.
  }
  return `${label}: must be a JSON object, such as {"api_key": "…"}.`;
}

/** The fields every relay has, from the form: name, filter, sequence, stream, daily limit. */
function commonFields(form: Record<string, string>): Record<string, unknown> | string {
  const body: Record<string, unknown> = { name: form.name ?? "", from_filter: form.from_filter?.trim() ? form.from_filter.trim() : null, stream: form.stream || "transactional" };
  const sequence = intField(form.sequence);
  if (Number.isNaN(sequence)) return "Sequence: must be a whole number.";
  if (sequence !== undefined) body.sequence = sequence;
  const limit = intField(form.daily_limit);
  if (Number.isNaN(limit)) return "Daily limit: must be a whole number.";
  body.daily_limit = limit ?? null;
  return body;
}

function CommonFields({ values }: { values: Record<string, string> }) {
  return (
    <>
      <Field label="Name" name="name" required value={values.name} autocomplete="off" />
      <Field
        label="From filter"
        name="from_filter"
        value={values.from_filter}
        hint="Comma-separated domains and addresses it may send as (Odoo's from_filter); empty: any"
        autocomplete="off"
      />
      <Field label="Sequence" name="sequence" type="number" inputmode="numeric" min={0} value={values.sequence} hint="Lower is tried first" />
      <Field label="Stream" name="stream" options={STREAMS} value={values.stream ?? "transactional"} />
      <Field label="Daily limit" name="daily_limit" type="number" inputmode="numeric" min={1} value={values.daily_limit} hint="Messages a day; empty: no limit" />
    </>
  );
}

function RelayTable({ relays, session }: { relays: Relay[]; session: Session }) {
  if (!relays.length) return <p class="muted">No relays yet: mail is sent through Cloudflare Email Service once you add one.</p>;
  return (
    <Table caption="Relays, in the order they are tried" columns={["Name", "Type", "From filter", "Sequence", "Stream", "Daily limit", "State", "Actions"]} numeric={[3, 5]}>
      {relays.map((relay) => (
        <tr>
          <th scope="row">
            <a href={relayPath(relay.id)}>{relay.name}</a>
          </th>
          <td>{relay.type}</td>
          <td>{relay.from_filter ?? <span class="muted">any</span>}</td>
          <td class="num">{relay.sequence}</td>
          <td>{relay.stream}</td>
          <td class="num">{relay.daily_limit ?? <span class="muted">none</span>}</td>
          <td>
            <StatusBadge status={relay.enabled ? "enabled" : "disabled"} />
          </td>
          <td>
            <ActionButton
              action={`${relayPath(relay.id)}/enabled`}
              session={session}
              fields={{ enabled: relay.enabled ? "false" : "true", back: "/relays" }}
              text={relay.enabled ? "Disable" : "Enable"}
              label={`${relay.enabled ? "Disable" : "Enable"} ${relay.name}`}
            />
          </td>
        </tr>
      ))}
    </Table>
  );
}

async function relaysPage(c: ConsoleContext): Promise<Response> {
  const flash = await takeFlash(c);
  const list = await apiGet<{ items: Relay[] }>(c, "/v1/relays");
  const session = c.get("session");
  const values = refill(flash, "add-relay");
  return render(
    c,
    <Page title="Relays" active="/relays" session={session}>
      <h1>Relays</h1>
      <FlashMessages flash={flash} />
      <RelayTable relays={list.items} session={session} />
      <section aria-labelledby="add-relay">
        <h2 id="add-relay">Add a relay</h2>
        <PostForm action="/relays" session={session} class="stack">
          <Field label="Type" name="type" options={TYPES} value={values.type ?? "smtp"} />
          <CommonFields values={values} />
          <fieldset>
            <legend>SMTP server (type SMTP only)</legend>
            <Field label="SMTP host" name="host" value={values.host} placeholder="smtp.example.com" autocomplete="off" />
            <Field label="SMTP port" name="port" type="number" inputmode="numeric" min={1} max={65535} value={values.port} placeholder="587" hint="Not 25: Cloudflare blocks it" />
            <Field label="SMTP security" name="security" options={SECURITY} value={values.security ?? "starttls"} />
            <Field label="SMTP user name" name="username" value={values.username} autocomplete="off" />
            <Field label="SMTP password" name="password" type="password" autocomplete="new-password" hint="Stored sealed; never shown again" />
          </fieldset>
          <Field
            label="Other settings (JSON)"
            name="config"
            multiline
            value={values.config}
            placeholder={'{"api_key": "…"}'}
            hint="The type's settings from the README's relay table: a provider's api_key or server_token, region, domain; SMTP's helo, oauth; fixed_sender, max_size"
          />
          <CheckField name="enabled" label="Enabled" checked={values.type === undefined || values.enabled === "on"} />
          <div>
            <button type="submit">Add relay</button>
          </div>
        </PostForm>
      </section>
    </Page>,
  );
}

function RelayAnswer({ answer }: { answer: NonNullable<Flash["answer"]> }) {
  return (
    <section aria-label="Relay answer">
      {answer.ok ? <Notice>{answer.summary}</Notice> : <Refusal>{answer.summary}</Refusal>}
      <pre>{answer.text}</pre>
    </section>
  );
}

async function relayPage(c: ConsoleContext): Promise<Response> {
  const id = c.req.param("id")!;
  const flash = await takeFlash(c);
  const relay = await apiGet<Relay>(c, `/v1/relays/${encodeURIComponent(id)}`);
  const session = c.get("session");
  const edited = refill(flash, "edit-relay");
  const current: Record<string, string> = {
    name: relay.name,
    from_filter: relay.from_filter ?? "",
    sequence: String(relay.sequence),
    stream: relay.stream,
    daily_limit: relay.daily_limit === null ? "" : String(relay.daily_limit),
  };
  return render(
    c,
    <Page title={relay.name} active="/relays" session={session}>
      <p>
        <a href="/relays">Relays</a>
      </p>
      <h1>{relay.name}</h1>
      <FlashMessages flash={flash} />
      <dl class="facts">
        <dt>Type</dt>
        <dd>{relay.type}</dd>
        <dt>State</dt>
        <dd>
          <StatusBadge status={relay.enabled ? "enabled" : "disabled"} />
        </dd>
        <dt>From filter</dt>
        <dd>{relay.from_filter ?? "any"}</dd>
        <dt>Sequence</dt>
        <dd>{relay.sequence}</dd>
        <dt>Stream</dt>
        <dd>{relay.stream}</dd>
        <dt>Daily limit</dt>
        <dd>{relay.daily_limit ?? "none"}</dd>
        <dt>Largest message</dt>
        <dd>{mib(relay.max_size)}</dd>
        <dt>Credentials stored</dt>
        <dd>{relay.secrets_set.length ? relay.secrets_set.join(", ") : "none"}</dd>
        <dt>Settings</dt>
        <dd>{Object.keys(relay.config).length ? <pre>{JSON.stringify(relay.config, null, 2)}</pre> : "none"}</dd>
      </dl>

      <section aria-labelledby="test-relay">
        <h2 id="test-relay">Test this relay</h2>
        <p class="hint">The connection test connects, greets, starts TLS, logs in and quits (a provider answers one read-only request): nothing is sent.</p>
        <PostForm action={`${relayPath(relay.id)}/test`} session={session} label="Test the connection">
          <button type="submit">Test connection</button>
        </PostForm>
        <PostForm action={`${relayPath(relay.id)}/test-message`} session={session} class="stack" label="Send a test message">
          <Field label="Send a test to" name="to" type="email" required value={refill(flash, "test-message").to} autocomplete="email" />
          <div>
            <button type="submit">Send a test message</button>
          </div>
        </PostForm>
        {flash.answer ? <RelayAnswer answer={flash.answer} /> : null}
      </section>

      <section aria-labelledby="edit-relay">
        <h2 id="edit-relay">Change this relay</h2>
        <PostForm action={relayPath(relay.id)} session={session} class="stack">
          <CommonFields values={{ ...current, ...edited }} />
          <Field
            label="Settings to change (JSON)"
            name="config"
            multiline
            value={edited.config}
            placeholder={'{"password": "…"}'}
            hint="Merged into the settings: a field given replaces, null removes, a field left out keeps its value. Moving the relay (host, port, security, base_url) needs its credentials again."
          />
          <div>
            <button type="submit">Save relay</button>
          </div>
        </PostForm>
      </section>

      <section aria-labelledby="relay-state">
        <h2 id="relay-state">Enable, disable, delete</h2>
        <div class="actions">
          <ActionButton
            action={`${relayPath(relay.id)}/enabled`}
            session={session}
            fields={{ enabled: relay.enabled ? "false" : "true" }}
            text={relay.enabled ? "Disable relay" : "Enable relay"}
            label={`${relay.enabled ? "Disable relay" : "Enable relay"} ${relay.name}`}
          />
          <ActionButton action={`${relayPath(relay.id)}/delete`} session={session} text="Delete relay" label={`Delete relay ${relay.name}`} danger />
        </div>
      </section>
    </Page>,
  );
}

/** The relay's SMTP fields from the add form (those filled in), for an `smtp` relay. */
function smtpConfig(form: Record<string, string>): Record<string, unknown> | string {
  const config: Record<string, unknown> = {};
  if (form.host?.trim()) config.host = form.host.trim();
  const port = intField(form.port);
  if (Number.isNaN(port)) return "SMTP port: must be a whole number.";
  if (port !== undefined) config.port = port;
  if (form.security) config.security = form.security;
  if (form.username?.trim()) config.username = form.username.trim();
  if (form.password) config.password = form.password;
  return config;
}

/** Adds the relay pages' routes to the console (src/console/app.tsx). */
export function register(app: ConsoleApp): void {
  app.get("/relays", relaysPage);

  app.post("/relays", async (c) => {
    const form = await formOf(c);
    const fail = (refusal: string) => redirectWith(c, "/relays", { refusal: `The relay was not added: ${refusal}`, form: "add-relay", values: form });
    const common = commonFields(form);
    if (typeof common === "string") return fail(common);
    const extra = jsonObject("Other settings (JSON)", form.config);
    if (typeof extra === "string") return fail(extra);
    let config = extra;
    if (form.type === "smtp") {
      const smtp = smtpConfig(form);
      if (typeof smtp === "string") return fail(smtp);
      config = { ...extra, ...smtp };
    }
    const answer = await apiCall<Relay>(c, "POST", "/v1/relays", { ...common, type: form.type, enabled: form.enabled === "on", config });
    if (!succeeded(answer)) return fail(apiMessage(answer));
    return redirectWith(c, relayPath(answer.body.id), { notice: `The relay ${answer.body.name} was added: test it below.` });
  });

  app.get("/relays/:id", relayPage);

  app.post("/relays/:id", async (c) => {
    const id = c.req.param("id");
    const form = await formOf(c);
    const fail = (refusal: string) => redirectWith(c, relayPath(id), { refusal: `The relay was not saved: ${refusal}`, form: "edit-relay", values: form });
    const common = commonFields(form);
    if (typeof common === "string") return fail(common);
    const config = jsonObject("Settings to change (JSON)", form.config);
    if (typeof config === "string") return fail(config);
    const answer = await apiCall<Relay>(c, "PATCH", `/v1/relays/${encodeURIComponent(id)}`, { ...common, ...(Object.keys(config).length && { config }) });
    if (!succeeded(answer)) return fail(apiMessage(answer));
    return redirectWith(c, relayPath(id), { notice: `The relay ${answer.body.name} was saved.` });
  });

  app.post("/relays/:id/enabled", async (c) => {
    const id = c.req.param("id");
    const form = await formOf(c);
    const enabled = form.enabled === "true";
    const back = backTo(form.back, id);
    const answer = await apiCall<Relay>(c, "PATCH", `/v1/relays/${encodeURIComponent(id)}`, { enabled });
    if (!succeeded(answer)) return redirectWith(c, back, { refusal: refusalOf(`The relay was not ${enabled ? "enabled" : "disabled"}`, answer) });
    return redirectWith(c, back, { notice: `The relay ${answer.body.name} is ${enabled ? "enabled" : "disabled"}.` });
  });

  app.post("/relays/:id/delete", async (c) => {
    const id = c.req.param("id");
    const answer = await apiCall(c, "DELETE", `/v1/relays/${encodeURIComponent(id)}`);
    if (!succeeded(answer)) return redirectWith(c, relayPath(id), { refusal: refusalOf("The relay was not deleted", answer) });
    return redirectWith(c, "/relays", { notice: "The relay was deleted." });
  });

  app.post("/relays/:id/test", async (c) => {
    const id = c.req.param("id");
    const answer = await apiCall<ProbeAnswer>(c, "POST", `/v1/relays/${encodeURIComponent(id)}/test`);
    if (!succeeded(answer)) return redirectWith(c, relayPath(id), { answer: { ok: false, summary: refusalOf("The connection was not tested", answer), text: apiMessage(answer) } });
    const result = answer.body;
    const flash: Flash = result.ok
      ? { answer: { ok: true, summary: "The connection test passed: the relay answered as below.", text: result.answer } }
      : {
          answer: {
            ok: false,
            summary: `The connection test failed: ${result.error}`,
            text: [result.answer, result.code ? `(${result.code})` : undefined].filter(Boolean).join("\n") || result.error,
          },
        };
    return redirectWith(c, relayPath(id), flash);
  });

  app.post("/relays/:id/test-message", async (c) => {
    const id = c.req.param("id");
    const form = await formOf(c);
    const to = form.to?.trim() ?? "";
    const answer = await apiCall<TestMessageAnswer>(c, "POST", `/v1/relays/${encodeURIComponent(id)}/test-message`, { to });
    if (!succeeded(answer)) {
      return redirectWith(c, relayPath(id), {
        answer: { ok: false, summary: refusalOf("The test message was not sent", answer), text: apiMessage(answer) },
        form: "test-message",
        values: form,
      });
    }
    const result = answer.body;
    const sent = [result.from ? `From: ${result.from}` : undefined, `To: ${to}`, result.message_id ? `Message-ID: ${result.message_id}` : undefined].filter(Boolean).join("\n");
    const flash: Flash = result.ok
      ? { answer: { ok: true, summary: `The test message was sent to ${to}: the relay answered as below.`, text: `${result.answer}\n\n${sent}` } }
      : {
          answer: { ok: false, summary: `The test message was not sent: ${result.error}`, text: `${result.error}${result.code ? ` (${result.code})` : ""}\n\n${sent}` },
          form: "test-message",
          values: form,
        };
    return redirectWith(c, relayPath(id), flash);
  });
}
