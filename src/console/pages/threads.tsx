/**
 * Threads: the list, and a thread as a chatter (Odoo's): its messages
 * oldest first, each with who was notified of it (the notification copies,
 * outbound messages of the thread whose decision names it), and its
 * followers, to add and remove.
 */
import { apiCall, apiGet, apiMessage, query } from "../api-client";
import { Field, Notice, Pager, PostForm, Refusal, StatusBadge, Table, Timestamp } from "../components";
import { Page, render } from "../layout";
import { type ConsoleApp, type ConsoleContext, ConsoleError } from "../session";
import { type MessageSummary, mailboxText, subjectOf } from "./messages";

interface ThreadSummary {
  id: string;
  subject: string | null;
  alias_id: string | null;
  created_at: string;
  updated_at: string;
}

interface Thread extends ThreadSummary {
  followers: { email: string; name: string | null; created_at: string }[];
}

/** How many of a thread's messages its page shows (newest kept when there are more). */
const CHATTER_MAX = 200;

async function aliasAddresses(c: ConsoleContext): Promise<Map<string, string>> {
  const answer = await apiCall<{ items: { id: string; address: string }[] }>(c, "GET", "/v1/aliases?limit=200");
  return answer.status === 200 ? new Map(answer.body.items.map((a) => [a.id, a.address])) : new Map();
}

function threadTitle(thread: { subject: string | null }): string {
  return thread.subject?.trim() ? thread.subject : "(no subject)";
}

/** A thread's page; `notice` or `refusal` after a follower form. */
async function threadPage(c: ConsoleContext, id: string, flash: { notice?: string; refusal?: string } = {}, status: 200 | 422 = 200): Promise<Response> {
  const path = `/v1/threads/${encodeURIComponent(id)}`;
  const [thread, list, aliases] = await Promise.all([
    apiGet<Thread>(c, path),
    apiGet<{ items: MessageSummary[]; next_cursor: string | null }>(c, `${path}/messages?limit=${CHATTER_MAX}`),
    aliasAddresses(c),
  ]);
  const messages = [...list.items].reverse();
  const notifications = new Map<string, MessageSummary[]>();
  for (const m of messages) {
    if (m.decision.reason !== "notification") continue;
    const of = m.decision.notification_of;
    notifications.set(of, [...(notifications.get(of) ?? []), m]);
  }
  // A notification whose message is not in view (older than the page) is shown on its own.
  const shown = messages.filter((m) => m.decision.reason !== "notification" || !messages.some((o) => o.id === (m.decision as { notification_of: string }).notification_of));
  const title = threadTitle(thread);
  const session = c.get("session");
  return render(
    c,
    <Page title={title} active="/threads" session={session}>
      <p>
        <a href="/threads">Threads</a>
      </p>
      <h1>{title}</h1>
      {flash.notice ? <Notice>{flash.notice}</Notice> : null}
      {flash.refusal ? <Refusal>{flash.refusal}</Refusal> : null}
      <dl class="facts">
        <dt>Alias</dt>
        <dd>{thread.alias_id ? (aliases.get(thread.alias_id) ?? thread.alias_id) : "none"}</dd>
        <dt>Opened</dt>
        <dd>
          <Timestamp at={thread.created_at} />
        </dd>
        <dt>Messages</dt>
        <dd>
          <a href={`/messages${query({ thread_id: thread.id })}`}>{list.next_cursor ? `the latest ${CHATTER_MAX}` : String(list.items.length)}</a>
        </dd>
        <dt>Id</dt>
        <dd>{thread.id}</dd>
      </dl>

      <section aria-labelledby="chatter">
        <h2 id="chatter">Conversation</h2>
        {shown.length === 0 ? <p class="muted">No messages yet.</p> : null}
        <ol class="chatter">
          {shown.map((m) => {
            const notified = notifications.get(m.id) ?? [];
            return (
              <li class={m.direction}>
                <p>
                  <strong>{mailboxText(m.from) === "–" ? m.mail_from || "<>" : mailboxText(m.from)}</strong> <span class="muted">{m.direction === "in" ? "wrote in" : "sent"}</span>{" "}
                  <Timestamp at={m.created_at} /> <StatusBadge status={m.status} />
                </p>
                <p>
                  <a href={`/messages/${encodeURIComponent(m.id)}`}>{subjectOf(m)}</a>
                  <span class="hint"> to {m.to.map((t) => t.address).join(", ") || m.rcpt_to}</span>
                </p>
                {m.decision.reason === "notification" ? <p class="hint">A notification copy to {m.rcpt_to}.</p> : null}
                {notified.length ? (
                  <p class="hint">
                    Notified:{" "}
                    {notified.map((n, i) => (
                      <>
                        {i ? ", " : ""}
                        <a href={`/messages/${encodeURIComponent(n.id)}`}>{n.rcpt_to}</a> <StatusBadge status={n.status} />
                      </>
                    ))}
                  </p>
                ) : m.decision.reason !== "notification" ? (
                  <p class="hint">Nobody was notified.</p>
                ) : null}
              </li>
            );
          })}
        </ol>
      </section>

      <section aria-labelledby="followers">
        <h2 id="followers">Followers</h2>
        {thread.followers.length ? (
          <Table columns={["Follower", "Since", ""]}>
            {thread.followers.map((f) => (
              <tr>
                <td>{f.name ? `${f.name} <${f.email}>` : f.email}</td>
                <td>
                  <Timestamp at={f.created_at} />
                </td>
                <td>
                  <PostForm action={`/threads/${encodeURIComponent(thread.id)}/followers/remove`} session={session} class="inline">
                    <input type="hidden" name="email" value={f.email} />
                    <button type="submit" class="danger" aria-label={`Remove the follower ${f.email}`}>
                      Remove
                    </button>
                  </PostForm>
                </td>
              </tr>
            ))}
          </Table>
        ) : (
          <p class="muted">Nobody follows this thread: mail entering it notifies nobody.</p>
        )}
        <h3>Add a follower</h3>
        <PostForm action={`/threads/${encodeURIComponent(thread.id)}/followers`} session={session} class="stack" label="Add a follower">
          <Field label="Email" name="email" type="email" required autocomplete="off" />
          <Field label="Name" name="name" hint="Optional" autocomplete="off" />
          <button type="submit">Add follower</button>
        </PostForm>
      </section>
    </Page>,
    status,
  );
}

/** Adds `/threads`, `/threads/{id}` and the follower forms. */
export function register(app: ConsoleApp): void {
  app.get("/threads", async (c) => {
    const aliasId = c.req.query("alias_id") || undefined;
    const cursor = c.req.query("cursor") || undefined;
    const [answer, aliases] = await Promise.all([
      apiCall<{ items: ThreadSummary[]; next_cursor: string | null }>(c, "GET", `/v1/threads${query({ alias_id: aliasId, cursor, limit: 50 })}`),
      aliasAddresses(c),
    ]);
    const items = answer.status === 200 ? answer.body.items : [];
    return render(
      c,
      <Page title="Threads" active="/threads" session={c.get("session")}>
        <h1>Threads</h1>
        <form method="get" action="/threads" class="filters" aria-label="Filter threads">
          <Field
            label="Alias"
            name="alias_id"
            value={aliasId}
            options={[{ value: "", label: "Any alias" }, ...[...aliases].map(([id, address]) => ({ value: id, label: address }))]}
          />
          <button type="submit">Filter</button>
        </form>
        {answer.status !== 200 ? <Refusal>{apiMessage(answer)}</Refusal> : null}
        {items.length ? (
          <Table caption="Newest first" columns={["Subject", "Alias", "Opened", "Last change"]}>
            {items.map((t) => (
              <tr>
                <td>
                  <a href={`/threads/${encodeURIComponent(t.id)}`}>{threadTitle(t)}</a>
                </td>
                <td>{t.alias_id ? (aliases.get(t.alias_id) ?? t.alias_id) : "–"}</td>
                <td>
                  <Timestamp at={t.created_at} />
                </td>
                <td>
                  <Timestamp at={t.updated_at} />
                </td>
              </tr>
            ))}
          </Table>
        ) : answer.status === 200 ? (
          <p class="muted">No threads yet: new mail to an alias opens one.</p>
        ) : null}
        <Pager base="/threads" params={{ alias_id: aliasId }} cursor={answer.status === 200 ? answer.body.next_cursor : null} />
      </Page>,
    );
  });

  app.get("/threads/:id", (c) => {
    const done = c.req.query("done");
    const notice = done === "added" ? "Follower added." : done === "removed" ? "Follower removed." : undefined;
    return threadPage(c, c.req.param("id"), { notice });
  });

  app.post("/threads/:id/followers", async (c) => {
    const id = c.req.param("id");
    const form = await c.req.parseBody();
    const email = typeof form.email === "string" ? form.email.trim() : "";
    const name = typeof form.name === "string" && form.name.trim() ? form.name.trim() : null;
    if (!email) return threadPage(c, id, { refusal: "Give the follower's email address." }, 422);
    const answer = await apiCall(c, "POST", `/v1/threads/${encodeURIComponent(id)}/followers`, { email, name });
    if (answer.status === 404) throw new ConsoleError(404, `There is no thread ${id}.`);
    if (answer.status !== 200) return threadPage(c, id, { refusal: apiMessage(answer) }, 422);
    return c.redirect(`/threads/${encodeURIComponent(id)}?done=added`, 303);
  });

  app.post("/threads/:id/followers/remove", async (c) => {
    const id = c.req.param("id");
    const form = await c.req.parseBody();
    const email = typeof form.email === "string" ? form.email : "";
    const answer = await apiCall(c, "DELETE", `/v1/threads/${encodeURIComponent(id)}/followers${query({ email })}`);
    if (answer.status === 404 && !email) throw new ConsoleError(404, `There is no thread ${id}.`);
    if (answer.status !== 200) return threadPage(c, id, { refusal: apiMessage(answer) }, 422);
    return c.redirect(`/threads/${encodeURIComponent(id)}?done=removed`, 303);
  });
}
