/**
 * Messages: the list with its filters (direction, status, alias, thread,
 * address, date; `GET /v1/search/messages`), and a message's page: its
 * routing trace as readable steps (src/console/trace.ts), its deliveries
 * and attempts as timelines, the bounce, its events, the raw download
 * (served here with the session: the token never reaches the browser) and
 * redelivery.
 */
import type { StoredDecision } from "../../decision";
import { apiCall, apiFetch, apiGet, apiMessage, query } from "../api-client";
import { Field, Notice, Pager, PostForm, Refusal, StatusBadge, Table, Timestamp, type Tone, toneOf } from "../components";
import { Page, render } from "../layout";
import { type ConsoleApp, type ConsoleContext, ConsoleError } from "../session";
import { type StepKind, traceSteps } from "../trace";

interface Mailbox {
  name: string;
  address: string;
}

/** A message as the API lists it. */
export interface MessageSummary {
  id: string;
  direction: "in" | "out";
  status: string;
  message_id: string;
  thread_id: string | null;
  thread_ids: string[];
  from: Mailbox | null;
  mail_from: string;
  rcpt_to: string;
  to: Mailbox[];
  cc: Mailbox[];
  subject: string | null;
  size: number;
  has_raw: boolean;
  decision: StoredDecision;
  relay_id: string | null;
  fetched_from: string | null;
  created_at: string;
}

interface Attempt {
  result: string;
  status_code: number | null;
  error: string | null;
  started_at: string;
  finished_at: string;
}

interface Delivery {
  id: string;
  type: string;
  target: string | null;
  status: string;
  attempts: number;
  last_error: string | null;
  alias_id: string | null;
  thread_id: string | null;
  next_attempt_at: string | null;
  redelivery_of: string | null;
  record_id: number | null;
  history: Attempt[];
  updated_at: string;
}

interface MessageDetail extends MessageSummary {
  deliveries: Delivery[];
  recipients: { address: string; name: string | null; kind: string; status: string; source: string | null; last_code: string | null; last_error: string | null }[];
  attempts: {
    relay_id: string;
    result: string;
    envelope_from: string | null;
    provider_message_id: string | null;
    error: string | null;
    recipients: { address: string; status: string; code: string | null; message: string | null }[];
    started_at: string;
    finished_at: string;
  }[];
  events: { type: string; at: string; detail: Record<string, unknown> | null }[];
}

const FILTERS = ["direction", "status", "alias_id", "thread_id", "address", "date"] as const;
const STATUSES = ["accepted", "refused", "dropped", "queued", "sent", "failed", "bounced"];
const REPLAYABLE = ["webhook", "odoo", "notify"] as const;
const STEP_TONES: Record<StepKind, Tone> = { match: "ok", refused: "bad", skipped: "warn", note: "neutral", answer: "info" };

/** A mailbox as text: `Name <address>`, or the address. */
export function mailboxText(mailbox: Mailbox | null | undefined): string {
  if (!mailbox) return "–";
  return mailbox.name ? `${mailbox.name} <${mailbox.address}>` : mailbox.address;
}

/** The link text of a message: its subject, or "(no subject)". */
export function subjectOf(message: { subject: string | null }): string {
  return message.subject?.trim() ? message.subject : "(no subject)";
}

const attemptTone = (result: string): Tone =>
  result === "delivered" || result === "sent" ? "ok" : result === "retry" || result === "deferred" || result === "partial" ? "warn" : "bad";

interface AliasSummary {
  id: string;
  address: string;
  thread_id: string | null;
}

async function aliasList(c: ConsoleContext): Promise<AliasSummary[]> {
  const answer = await apiCall<{ items: AliasSummary[] }>(c, "GET", "/v1/aliases?limit=200");
  return answer.status === 200 ? answer.body.items : [];
}

async function relayNames(c: ConsoleContext): Promise<Map<string, string>> {
  const answer = await apiCall<{ items: { id: string; name: string }[] }>(c, "GET", "/v1/relays");
  if (answer.status !== 200) return new Map();
  return new Map(answer.body.items.map((r) => [r.id, r.name]));
}

function listPage(c: ConsoleContext) {
  return async () => {
    const params: Record<string, string | undefined> = {};
    for (const name of FILTERS) params[name] = c.req.query(name)?.trim() || undefined;
    const cursor = c.req.query("cursor") || undefined;
    const [answer, aliases] = await Promise.all([
      apiCall<{ items: MessageSummary[]; next_cursor: string | null }>(c, "GET", `/v1/search/messages${query({ ...params, cursor, limit: 50 })}`),
      aliasList(c),
    ]);
    const refused = answer.status === 200 ? null : apiMessage(answer);
    const items = answer.status === 200 ? answer.body.items : [];
    const aliasOptions = [{ value: "", label: "Any alias" }, ...aliases.map((a) => ({ value: a.id, label: a.address }))];
    return render(
      c,
      <Page title="Messages" active="/messages" session={c.get("session")}>
        <h1>Messages</h1>
        <form method="get" action="/messages" class="filters" aria-label="Filter messages">
          <Field
            label="Direction"
            name="direction"
            value={params.direction}
            options={[
              { value: "", label: "In and out" },
              { value: "in", label: "In" },
              { value: "out", label: "Out" },
            ]}
          />
          <Field label="Status" name="status" value={params.status} options={[{ value: "", label: "Any status" }, ...STATUSES.map((s) => ({ value: s, label: s }))]} />
          <Field label="Alias" name="alias_id" value={params.alias_id} options={aliasOptions} />
          <Field label="Thread" name="thread_id" value={params.thread_id} placeholder="thr_…" />
          <Field label="Address" name="address" value={params.address} placeholder="part of an address" inputmode="email" />
          <Field label="Date (UTC)" name="date" type="date" value={params.date} />
          <button type="submit">Filter</button>
          {Object.values(params).some(Boolean) ? <a href="/messages">Clear</a> : null}
        </form>
        {refused ? <Refusal>{refused}</Refusal> : null}
        {items.length === 0 && !refused ? <p class="muted">No messages match.</p> : null}
        {items.length ? (
          <Table caption="Newest first" columns={["Subject", "Direction", "Status", "From", "To", "Received"]}>
            {items.map((m) => (
              <tr>
                <td>
                  <a href={`/messages/${encodeURIComponent(m.id)}`}>{subjectOf(m)}</a>
                </td>
                <td>{m.direction === "in" ? "in" : "out"}</td>
                <td>
                  <StatusBadge status={m.status} />
                  {m.decision.outcome === "refused" || m.decision.outcome === "dropped" ? <span class="hint"> {m.decision.reason.replaceAll("_", " ")}</span> : null}
                </td>
                <td>{m.from?.address ?? m.mail_from}</td>
                <td>{m.rcpt_to}</td>
                <td>
                  <Timestamp at={m.created_at} />
                </td>
              </tr>
            ))}
          </Table>
        ) : null}
        <Pager base="/messages" params={params} cursor={answer.status === 200 ? answer.body.next_cursor : null} />
      </Page>,
    );
  };
}

/** The original deliveries that `POST /v1/messages/{id}/redeliver` can repeat, by type. */
function replayableTypes(message: MessageDetail): string[] {
  if (message.direction !== "in" || !message.has_raw) return [];
  return REPLAYABLE.filter((type) => message.deliveries.some((d) => d.type === type && d.redelivery_of === null));
}

function DeliveryItem({ delivery }: { delivery: Delivery }) {
  return (
    <li>
      <h3>
        {delivery.type}
        {delivery.target ? ` → ${delivery.target}` : ""} <StatusBadge status={delivery.status} />
      </h3>
      <p class="hint">
        {delivery.id}
        {delivery.redelivery_of ? ` · repeats ${delivery.redelivery_of}` : ""}
        {delivery.record_id !== null ? ` · Odoo record ${delivery.record_id}` : ""} · {delivery.attempts} attempt{delivery.attempts === 1 ? "" : "s"}
        {delivery.next_attempt_at ? (
          <>
            {" "}
            · next <Timestamp at={delivery.next_attempt_at} />
          </>
        ) : null}
      </p>
      {delivery.last_error ? <pre>{delivery.last_error}</pre> : null}
      {delivery.history.length ? (
        <ol class="timeline" aria-label={`Attempts of ${delivery.type} delivery ${delivery.id}`}>
          {delivery.history.map((h) => (
            <li class={attemptTone(h.result)}>
              <Timestamp at={h.started_at} /> <StatusBadge status={h.result} tone={attemptTone(h.result)} />
              {h.status_code !== null ? ` HTTP ${h.status_code}` : ""}
              {h.error ? ` · ${h.error}` : ""}
            </li>
          ))}
        </ol>
      ) : null}
    </li>
  );
}

function BounceSection({ message }: { message: MessageDetail }) {
  const decision = message.decision;
  if (decision.reason === "bounce") {
    const b = decision.bounce;
    return (
      <section aria-labelledby="bounce">
        <h2 id="bounce">Bounce</h2>
        <dl class="facts">
          <dt>Kind</dt>
          <dd>{b.kind ?? "not a report mailgate could read"}</dd>
          <dt>About</dt>
          <dd>
            {b.original_id ? (
              <a href={`/messages/${encodeURIComponent(b.original_id)}`}>{b.original_message_id ?? b.original_id}</a>
            ) : (
              (b.original_message_id ?? "no message of ours")
            )}
          </dd>
          <dt>VERP</dt>
          <dd>{b.verp ?? "none"}</dd>
          {b.feedback_type ? (
            <>
              <dt>Feedback type</dt>
              <dd>{b.feedback_type}</dd>
            </>
          ) : null}
        </dl>
        {b.recipients.length ? (
          <Table caption="Recipients the report names" columns={["Recipient", "Action", "Status", "Diagnostic", "Remote MTA", "Hard"]}>
            {b.recipients.map((r) => (
              <tr>
                <td>{r.recipient}</td>
                <td>{r.action ?? "–"}</td>
                <td>{r.status ?? "–"}</td>
                <td>{r.diagnostic ?? "–"}</td>
                <td>{r.remote_mta ?? "–"}</td>
                <td>{r.hard ? "yes" : "no"}</td>
              </tr>
            ))}
          </Table>
        ) : null}
        <p>
          Bounced: {b.effects.bounced.join(", ") || "nobody"} · counted: {b.effects.counted.join(", ") || "nobody"} · suppressed:{" "}
          {b.effects.suppressed.map((s) => `${s.email} (${s.reason.replaceAll("_", " ")})`).join(", ") || "nobody"}
          {b.effects.delayed.length ? ` · delayed: ${b.effects.delayed.join(", ")}` : ""}
        </p>
      </section>
    );
  }
  const bounced = message.recipients.filter((r) => r.status === "bounced" || r.status === "complained" || r.status === "failed");
  if (message.direction !== "out" || !bounced.length) return null;
  return (
    <section aria-labelledby="bounce">
      <h2 id="bounce">Bounce</h2>
      <Table columns={["Recipient", "Status", "Learned from", "Code", "Diagnostic"]}>
        {bounced.map((r) => (
          <tr>
            <td>{r.address}</td>
            <td>
              <StatusBadge status={r.status} />
            </td>
            <td>{r.source ?? "–"}</td>
            <td>{r.last_code ?? "–"}</td>
            <td>{r.last_error ?? "–"}</td>
          </tr>
        ))}
      </Table>
    </section>
  );
}

/** A message's page; `notice` or `refusal` after a form (redelivery) was posted. */
async function messagePage(c: ConsoleContext, id: string, flash: { notice?: string; refusal?: string } = {}, status: 200 | 409 | 422 = 200): Promise<Response> {
  const [message, aliases, relays] = await Promise.all([apiGet<MessageDetail>(c, `/v1/messages/${encodeURIComponent(id)}`), aliasList(c), relayNames(c)]);
  const alias = new Map(aliases.map((a) => [a.id, a]));
  const steps = traceSteps(message.decision, { alias: (a) => alias.get(a)?.address, pinned: (a) => alias.get(a)?.thread_id, relay: (r) => relays.get(r) });
  const replayable = replayableTypes(message);
  const title = subjectOf(message);
  const session = c.get("session");
  return render(
    c,
    <Page title={title} active="/messages" session={session}>
      <p>
        <a href="/messages">Messages</a>
      </p>
      <h1>{title}</h1>
      {flash.notice ? <Notice>{flash.notice}</Notice> : null}
      {flash.refusal ? <Refusal>{flash.refusal}</Refusal> : null}
      <dl class="facts">
        <dt>Direction</dt>
        <dd>{message.direction === "in" ? "in" : "out"}</dd>
        <dt>Status</dt>
        <dd>
          <StatusBadge status={message.status} />
        </dd>
        <dt>Envelope</dt>
        <dd>
          {message.mail_from || "<>"} → {message.rcpt_to}
        </dd>
        <dt>From</dt>
        <dd>{mailboxText(message.from)}</dd>
        <dt>To</dt>
        <dd>{message.to.map(mailboxText).join(", ") || "–"}</dd>
        {message.cc.length ? (
          <>
            <dt>Cc</dt>
            <dd>{message.cc.map(mailboxText).join(", ")}</dd>
          </>
        ) : null}
        <dt>Message-ID</dt>
        <dd>{message.message_id}</dd>
        <dt>Threads</dt>
        <dd>
          {message.thread_ids.length
            ? message.thread_ids.map((t, i) => (
                <>
                  {i ? ", " : ""}
                  <a href={`/threads/${encodeURIComponent(t)}`}>{t}</a>
                </>
              ))
            : "–"}
        </dd>
        {message.relay_id ? (
          <>
            <dt>Relay</dt>
            <dd>
              <a href={`/relays/${encodeURIComponent(message.relay_id)}`}>{relays.get(message.relay_id) ?? message.relay_id}</a>
            </dd>
          </>
        ) : null}
        {message.fetched_from ? (
          <>
            <dt>Fetched from</dt>
            <dd>
              <a href={`/incoming-servers/${encodeURIComponent(message.fetched_from)}`}>{message.fetched_from}</a>
            </dd>
          </>
        ) : null}
        <dt>Size</dt>
        <dd>{message.size} bytes</dd>
        <dt>Recorded</dt>
        <dd>
          <Timestamp at={message.created_at} />
        </dd>
        <dt>Id</dt>
        <dd>{message.id}</dd>
      </dl>
      <div class="actions">
        {message.has_raw ? (
          <p>
            <a href={`/messages/${encodeURIComponent(message.id)}/raw`} download={`${message.id}.eml`}>
              Download raw message
            </a>
          </p>
        ) : (
          <p class="muted">No raw copy is kept (retention, erasure, or refused mail).</p>
        )}
        {replayable.length ? (
          <PostForm action={`/messages/${encodeURIComponent(message.id)}/redeliver`} session={session} class="inline" label="Redeliver">
            {replayable.map((type) => (
              <label>
                <input type="checkbox" name="types" value={type} checked /> {type === "notify" ? "notify followers" : type}{" "}
              </label>
            ))}
            <button type="submit">Redeliver</button>
          </PostForm>
        ) : null}
      </div>

      <section aria-labelledby="trace">
        <h2 id="trace">Routing trace</h2>
        <ol class="trace">
          {steps.map((s) => (
            <li class={STEP_TONES[s.kind]}>{s.text}</li>
          ))}
        </ol>
      </section>

      <section aria-labelledby="deliveries">
        <h2 id="deliveries">Deliveries</h2>
        {message.deliveries.length === 0 && message.attempts.length === 0 ? <p class="muted">No deliveries.</p> : null}
        {message.deliveries.length ? (
          <ul class="chatter">
            {message.deliveries.map((d) => (
              <DeliveryItem delivery={d} />
            ))}
          </ul>
        ) : null}
        {message.recipients.length ? (
          <Table caption="Recipients" columns={["Recipient", "Kind", "Status", "Learned from", "Last answer"]}>
            {message.recipients.map((r) => (
              <tr>
                <td>{r.name ? `${r.name} <${r.address}>` : r.address}</td>
                <td>{r.kind}</td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td>{r.source ?? "–"}</td>
                <td>{[r.last_code, r.last_error].filter(Boolean).join(" ") || "–"}</td>
              </tr>
            ))}
          </Table>
        ) : null}
        {message.attempts.length ? (
          <>
            <h3>Attempts</h3>
            <ol class="timeline" aria-label="Delivery attempts">
              {message.attempts.map((a) => (
                <li class={attemptTone(a.result)}>
                  <Timestamp at={a.started_at} /> <StatusBadge status={a.result} tone={attemptTone(a.result)} /> via {relays.get(a.relay_id) ?? a.relay_id}
                  {a.envelope_from ? ` · MAIL FROM ${a.envelope_from}` : ""}
                  {a.provider_message_id ? ` · provider id ${a.provider_message_id}` : ""}
                  {a.error ? <pre>{a.error}</pre> : null}
                  {a.recipients.length ? (
                    <ul>
                      {a.recipients.map((r) => (
                        <li>
                          {r.address}: {r.status}
                          {r.code ? ` ${r.code}` : ""}
                          {r.message ? ` ${r.message}` : ""}
                        </li>
                      ))}
                    </ul>
                  ) : null}
                </li>
              ))}
            </ol>
          </>
        ) : null}
      </section>

      <BounceSection message={message} />

      <section aria-labelledby="events">
        <h2 id="events">Events</h2>
        {message.events.length ? (
          <ol class="timeline">
            {message.events.map((e) => (
              <li class={toneOf(e.type.replace(/^.*_/, ""))}>
                <Timestamp at={e.at} /> {e.type.replaceAll("_", " ")}
                {e.detail && Object.keys(e.detail).length ? <pre>{JSON.stringify(e.detail, null, 1)}</pre> : null}
              </li>
            ))}
          </ol>
        ) : (
          <p class="muted">No events.</p>
        )}
      </section>
    </Page>,
    status,
  );
}

/** Adds `/messages`, `/messages/{id}`, its raw download and redelivery. */
export function register(app: ConsoleApp): void {
  app.get("/messages", (c) => listPage(c)());

  app.get("/messages/:id", (c) => {
    const done = c.req.query("redelivered");
    return messagePage(c, c.req.param("id"), done !== undefined ? { notice: `Redelivery queued: ${Number(done) || 0} new deliver${Number(done) === 1 ? "y" : "ies"}.` } : {});
  });

  app.get("/messages/:id/raw", async (c) => {
    const id = c.req.param("id");
    const answer = await apiFetch(c, "GET", `/v1/messages/${encodeURIComponent(id)}/raw`);
    if (!answer.ok) {
      const text = await answer.text();
      throw new ConsoleError(
        answer.status === 404 ? 404 : 502,
        answer.status === 404 ? "There is no raw copy of this message." : `The API answered ${answer.status}: ${text.slice(0, 200)}`,
      );
    }
    const headers = new Headers();
    for (const name of ["Content-Type", "Content-Disposition", "Content-Length"]) {
      const value = answer.headers.get(name);
      if (value) headers.set(name, value);
    }
    return new Response(answer.body, { status: 200, headers });
  });

  app.post("/messages/:id/redeliver", async (c) => {
    const id = c.req.param("id");
    const form = await c.req.parseBody({ all: true });
    const asked = ([] as unknown[]).concat(form.types ?? []).filter((t): t is string => typeof t === "string" && (REPLAYABLE as readonly string[]).includes(t));
    if (!asked.length) return messagePage(c, id, { refusal: "Choose what to redeliver: webhooks, Odoo, or the followers." }, 422);
    const answer = await apiCall<{ deliveries: unknown[]; skipped: { type: string; reason: string }[] }>(c, "POST", `/v1/messages/${encodeURIComponent(id)}/redeliver`, {
      types: asked,
    });
    if (answer.status === 404) throw new ConsoleError(404, `There is no message ${id}.`);
    if (answer.status !== 202) return messagePage(c, id, { refusal: apiMessage(answer) }, answer.status === 409 ? 409 : 422);
    if (!answer.body.deliveries.length) {
      return messagePage(c, id, { refusal: `Nothing was redelivered: ${answer.body.skipped.map((s) => s.reason).join("; ") || "no delivery of that kind"}.` }, 422);
    }
    return c.redirect(`/messages/${encodeURIComponent(id)}?redelivered=${answer.body.deliveries.length}`, 303);
  });
}
