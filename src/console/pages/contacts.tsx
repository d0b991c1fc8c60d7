/**
 * Contacts and suppressions: who gets no more mail, for which stream, why
 * and since when (lift one with a button: `DELETE /v1/suppressions/{email}`,
 * which also says when a relay's provider still holds the address), and
 * the contacts we know with their bounce counts (add one, suppress one by
 * hand).
 */
import { apiCall, apiGet, query } from "../api-client";
import { Field, type FieldOption, PostForm, StatusBadge, Table, Timestamp } from "../components";
import { ActionButton, FlashMessages, formOf, redirectWith, refill, refusalOf, succeeded, takeFlash } from "../forms";
import { Page, render } from "../layout";
import type { ConsoleApp, ConsoleContext } from "../session";

type Reason = "hard_bounce" | "soft_bounces" | "complaint" | "unsubscribed" | "manual" | "provider";

interface Suppression {
  email: string;
  reason: Reason;
  stream: "transactional" | "mass" | null;
  provider_relay_id: string | null;
  created_at: string;
}

interface Contact {
  email: string;
  name: string | null;
  bounce_count: number;
  suppressed: boolean;
  suppressed_reason: Reason | null;
  last_bounce_at: string | null;
}

/** Why a suppression was made, in words. */
const WHY: Record<Reason, string> = {
  hard_bounce: "A hard bounce: the receiving server said the address does not exist or never takes mail.",
  soft_bounces: "Soft bounces, again and again, past Odoo's threshold (temporary failures over days).",
  complaint: "A complaint: the recipient marked our mail as spam (a feedback report).",
  unsubscribed: "The recipient unsubscribed (List-Unsubscribe).",
  manual: "Suppressed by hand.",
  provider: "The relay's provider suppresses it and told us so.",
};

const REASONS: FieldOption[] = [{ value: "", label: "Any reason" }, ...(Object.keys(WHY) as Reason[]).map((reason) => ({ value: reason, label: reason.replaceAll("_", " ") }))];

const STREAMS: FieldOption[] = [
  { value: "", label: "Any stream" },
  { value: "all", label: "Every stream" },
  { value: "transactional", label: "Transactional" },
  { value: "mass", label: "Mass" },
];

function streamText(stream: Suppression["stream"]): string {
  return stream ?? "every stream";
}

async function contactsPage(c: ConsoleContext): Promise<Response> {
  const flash = await takeFlash(c);
  const reason = c.req.query("reason") ?? "";
  const stream = c.req.query("stream") ?? "";
  const suppressionsCursor = c.req.query("suppressions_cursor");
  const contactsCursor = c.req.query("contacts_cursor");
  const [suppressions, contacts] = await Promise.all([
    apiGet<{ items: Suppression[]; next_cursor: string | null }>(c, `/v1/suppressions${query({ reason, stream, limit: 100, cursor: suppressionsCursor })}`),
    apiGet<{ items: Contact[]; next_cursor: string | null }>(c, `/v1/contacts${query({ limit: 100, cursor: contactsCursor })}`),
  ]);
  const session = c.get("session");
  const more = (name: string, cursor: string | null) => (cursor ? `/contacts${query({ reason, stream, [name]: cursor })}` : null);
  const nextSuppressions = more("suppressions_cursor", suppressions.next_cursor);
  const nextContacts = more("contacts_cursor", contacts.next_cursor);
  const values = refill(flash, "add-contact");
  return render(
    c,
    <Page title="Contacts" active="/contacts" session={session}>
      <h1>Contacts</h1>
      <FlashMessages flash={flash} />

      <section aria-labelledby="suppressions">
        <h2 id="suppressions">Suppressions</h2>
        <p class="hint">Mail to these addresses is left out of every send (for their stream). Lifting one lets mail go to them again.</p>
        <form method="get" action="/contacts" class="filters" aria-label="Filter suppressions">
          <Field label="Reason" name="reason" id="filter-reason" options={REASONS} value={reason} />
          <Field label="Stream" name="stream" id="filter-stream" options={STREAMS} value={stream} />
          <button type="submit" class="secondary">
            Filter
          </button>
        </form>
        {suppressions.items.length ? (
          <Table caption="Suppressed addresses" columns={["Address", "Reason", "Why", "Stream", "Since", "Actions"]}>
            {suppressions.items.map((s) => (
              <tr>
                <th scope="row">{s.email}</th>
                <td>
                  <StatusBadge status={s.reason} tone={s.reason === "manual" || s.reason === "unsubscribed" ? "warn" : "bad"} />
                </td>
                <td>
                  {WHY[s.reason] ?? s.reason}
                  {s.provider_relay_id ? (
                    <>
                      {" "}
                      (relay <a href={`/relays/${encodeURIComponent(s.provider_relay_id)}`}>{s.provider_relay_id}</a>)
                    </>
                  ) : null}
                </td>
                <td>{streamText(s.stream)}</td>
                <td>
                  <Timestamp at={s.created_at} />
                </td>
                <td>
                  <ActionButton
                    action="/contacts/suppressions/lift"
                    session={session}
                    fields={{ email: s.email, stream: s.stream ?? "all" }}
                    text="Lift"
                    label={`Lift the suppression of ${s.email}`}
                  />
                </td>
              </tr>
            ))}
          </Table>
        ) : (
          <p class="muted">{reason || stream ? "No suppressions match." : "No address is suppressed."}</p>
        )}
        {nextSuppressions ? (
          <p class="pager">
            <a href={nextSuppressions}>More suppressions</a>
          </p>
        ) : null}
      </section>

      <section aria-labelledby="contacts">
        <h2 id="contacts">Contacts</h2>
        <p class="hint">Addresses we know: aliases open to known contacts take their mail. A bounce counts; mail from the contact resets the count.</p>
        {contacts.items.length ? (
          <Table caption="Known contacts" columns={["Address", "Name", "Bounces", "Last bounce", "Suppressed", "Actions"]} numeric={[2]}>
            {contacts.items.map((contact) => (
              <tr>
                <th scope="row">{contact.email}</th>
                <td>{contact.name ?? <span class="muted">–</span>}</td>
                <td class="num">{contact.bounce_count}</td>
                <td>
                  <Timestamp at={contact.last_bounce_at} />
                </td>
                <td>{contact.suppressed_reason ? <StatusBadge status={contact.suppressed_reason} tone="bad" /> : <span class="muted">no</span>}</td>
                <td>
                  {contact.suppressed ? null : (
                    <ActionButton action="/contacts/suppress" session={session} fields={{ email: contact.email }} text="Suppress" label={`Suppress ${contact.email}`} danger />
                  )}
                </td>
              </tr>
            ))}
          </Table>
        ) : (
          <p class="muted">No contacts yet.</p>
        )}
        {nextContacts ? (
          <p class="pager">
            <a href={nextContacts}>More contacts</a>
          </p>
        ) : null}
        <h3 id="add-contact">Add a contact</h3>
        <PostForm action="/contacts" session={session} class="stack" label="Add a contact">
          <Field label="Address" name="email" type="email" required value={values.email} autocomplete="off" />
          <Field label="Contact name" name="name" value={values.name} autocomplete="off" />
          <div>
            <button type="submit">Add contact</button>
          </div>
        </PostForm>
      </section>
    </Page>,
  );
}

/** Adds the contacts page's routes to the console (src/console/app.tsx). */
export function register(app: ConsoleApp): void {
  app.get("/contacts", contactsPage);

  app.post("/contacts", async (c) => {
    const form = await formOf(c);
    const name = form.name?.trim();
    const answer = await apiCall<Contact>(c, "POST", "/v1/contacts", { email: form.email ?? "", ...(name && { name }) });
    if (!succeeded(answer)) return redirectWith(c, "/contacts", { refusal: refusalOf("The contact was not added", answer), form: "add-contact", values: form });
    return redirectWith(c, "/contacts", { notice: `${answer.body.email} is now a known contact.` });
  });

  app.post("/contacts/suppress", async (c) => {
    const { email = "" } = await formOf(c);
    const answer = await apiCall<Contact>(c, "PATCH", `/v1/contacts/${encodeURIComponent(email)}`, { suppressed: true });
    if (!succeeded(answer)) return redirectWith(c, "/contacts", { refusal: refusalOf(`${email} was not suppressed`, answer) });
    return redirectWith(c, "/contacts", { notice: `${answer.body.email} is suppressed: no more mail goes to it.` });
  });

  app.post("/contacts/suppressions/lift", async (c) => {
    const { email = "", stream = "all" } = await formOf(c);
    const answer = await apiCall<{ lifted: Suppression[]; provider_still_holds: string[] }>(
      c,
      "DELETE",
      `/v1/suppressions/${encodeURIComponent(email)}${query({ stream: stream === "transactional" || stream === "mass" ? stream : "all" })}`,
    );
    if (!succeeded(answer)) return redirectWith(c, "/contacts", { refusal: refusalOf(`The suppression of ${email} was not lifted`, answer) });
    const held = answer.body.provider_still_holds;
    const lifted = answer.body.lifted.map((s) => `${s.reason.replaceAll("_", " ")}, ${streamText(s.stream)}`).join("; ");
    return redirectWith(c, "/contacts", {
      notice:
        `The suppression of ${email} was lifted (${lifted}): mail may go to it again.` +
        (held.length ? ` The provider of relay ${held.join(", ")} still suppresses it: lift it there too.` : ""),
    });
  });
}
