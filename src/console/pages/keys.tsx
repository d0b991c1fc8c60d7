/**
 * API keys: create one (the key is shown this once, in `<output
 * id="new-key">`, carried to the page after the redirect in the sealed
 * one-time cookie and never in a URL), list them, revoke one.
 */
import { apiCall, apiGet, query } from "../api-client";
import { Field, Pager, PostForm, Table, Timestamp } from "../components";
import { ActionButton, FlashMessages, formOf, redirectWith, refill, refusalOf, SecretOnce, succeeded, takeFlash } from "../forms";
import { Page, render } from "../layout";
import type { ConsoleApp, ConsoleContext } from "../session";

interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  from_domains: string[] | null;
  created_at: string;
  key?: string;
}

const keyPath = (id: string) => `/keys/${encodeURIComponent(id)}`;

async function keysPage(c: ConsoleContext): Promise<Response> {
  const flash = await takeFlash(c);
  const list = await apiGet<{ items: ApiKey[]; next_cursor: string | null }>(c, `/v1/keys${query({ limit: 100, cursor: c.req.query("cursor") })}`);
  const session = c.get("session");
  const values = refill(flash, "create-key");
  return render(
    c,
    <Page title="API keys" active="/keys" session={session}>
      <h1>API keys</h1>
      <FlashMessages flash={flash} />
      {flash.secret ? <SecretOnce secret={flash.secret} id="new-key" /> : null}
      <p class="hint">Keys send mail through POST /v1/messages and read what they sent. The admin token does everything else.</p>
      {list.items.length ? (
        <Table caption="Keys in use, newest first" columns={["Name", "Starts with", "May send as", "Created", "Actions"]}>
          {list.items.map((key) => (
            <tr>
              <th scope="row" id={`key-${key.id}`}>
                {key.name}
              </th>
              <td>
                <code>{key.prefix}…</code>
              </td>
              <td>{key.from_domains ? key.from_domains.join(", ") : <span class="muted">any domain</span>}</td>
              <td>
                <Timestamp at={key.created_at} />
              </td>
              <td>
                <ActionButton action={`${keyPath(key.id)}/revoke`} session={session} text="Revoke" describedBy={`key-${key.id}`} fields={{ name: key.name }} danger />
              </td>
            </tr>
          ))}
        </Table>
      ) : (
        <p class="muted">No API keys yet.</p>
      )}
      <Pager base="/keys" params={{}} cursor={list.next_cursor} />
      <section aria-labelledby="create-key">
        <h2 id="create-key">Create key</h2>
        <PostForm action="/keys" session={session} class="stack">
          <Field label="Name" name="name" required value={values.name} hint="Who or what uses it (an application, a server)" autocomplete="off" />
          <Field label="From domains" name="from_domains" value={values.from_domains} hint="Comma-separated domains it may send as; empty: any" autocomplete="off" />
          <div>
            <button type="submit">Create key</button>
          </div>
        </PostForm>
      </section>
    </Page>,
  );
}

/** Adds the API keys page's routes to the console (src/console/app.tsx). */
export function register(app: ConsoleApp): void {
  app.get("/keys", keysPage);

  app.post("/keys", async (c) => {
    const form = await formOf(c);
    const domains = (form.from_domains ?? "")
      .split(/[\s,]+/)
      .map((d) => d.trim())
      .filter(Boolean);
    const answer = await apiCall<ApiKey>(c, "POST", "/v1/keys", { name: form.name ?? "", ...(domains.length && { from_domains: domains }) });
    if (!succeeded(answer) || !answer.body.key) return redirectWith(c, "/keys", { refusal: refusalOf("The key was not created", answer), form: "create-key", values: form });
    return redirectWith(c, "/keys", {
      notice: `The key ${answer.body.name} was created.`,
      secret: { label: `The key ${answer.body.name}`, value: answer.body.key },
    });
  });

  app.post("/keys/:id/revoke", async (c) => {
    const id = c.req.param("id");
    const { name } = await formOf(c);
    const answer = await apiCall(c, "DELETE", `/v1/keys/${encodeURIComponent(id)}`);
    if (!succeeded(answer)) return redirectWith(c, "/keys", { refusal: refusalOf("The key was not revoked", answer) });
    return redirectWith(c, "/keys", { notice: `The key ${name || id} was revoked: it no longer works.` });
  });
}
