/**
 * Domains and their aliases: the list of domains and a form to add one,
 * with the aliases on every domain (no domain, `local_part_only`: at
 * `/aliases/{id}`) and a form to create one; a domain's page with its
 * settings, its aliases (edit, enable, disable, delete), the "Create alias"
 * form and the domain check (`GET /v1/domains/{name}/check`): each item
 * with its reason and the records to publish.
 */
import { type ApiAnswer, apiCall, apiGet, apiMessage, query } from "../api-client";
import { Field, type FieldOption, Pager, PostForm, StatusBadge, Table, Timestamp } from "../components";
import { ActionButton, CheckField, type Flash, FlashMessages, formOf, intField, redirectWith, refill, refusalOf, SecretOnce, succeeded, takeFlash } from "../forms";
import { Page, render } from "../layout";
import type { ConsoleApp, ConsoleContext, Session } from "../session";

// ---------------------------------------------------------------------------
// Domains
// ---------------------------------------------------------------------------

interface Domain {
  name: string;
  company_name: string | null;
  catchall: string;
  bounce: string;
  default_from: string;
  contact_email: string | null;
  sequence: number;
  catchall_address: string;
  bounce_address: string;
  default_from_address: string;
  created_at: string;
}

type Destination =
  | { type: "store" }
  | { type: "forward"; to: string }
  | { type: "webhook"; url: string; inline_max_bytes?: number }
  | { type: "odoo"; url: string; db: string; login: string; model?: string | null; api_key_set?: true; [key: string]: unknown };

interface Alias {
  id: string;
  name: string;
  domain: string | null;
  address: string;
  destinations: Destination[];
  contact: "everyone" | "known" | "followers";
  local_part_only: boolean;
  thread_id: string | null;
  refusal_text: string | null;
  enabled: boolean;
  add_sender_as_follower: boolean;
  followers: { name: string; address: string }[];
  status: "not_tested" | "valid" | "invalid";
  raw_retention_days: number | null;
  webhook_secret?: string;
}

interface CheckRecord {
  type: string;
  name: string;
  value: string;
}

interface CheckItem {
  id: string;
  group: string;
  status: "pass" | "warn" | "fail";
  reason: string;
  record?: CheckRecord;
  records?: CheckRecord[];
}

const DESTINATIONS: FieldOption[] = [
  { value: "store", label: "Store (keep it in its thread)" },
  { value: "forward", label: "Forward to an address" },
  { value: "webhook", label: "Post to a webhook" },
];

const CONTACT_POLICIES: FieldOption[] = [
  { value: "everyone", label: "Everyone" },
  { value: "known", label: "Known contacts only" },
  { value: "followers", label: "Followers of its thread only" },
];

const POLICY_TEXT: Record<Alias["contact"], string> = { everyone: "everyone", known: "known contacts", followers: "followers" };

const domainPath = (name: string) => `/domains/${encodeURIComponent(name)}`;
/** An alias's page: under its domain's, or `/aliases/{id}` for an alias on every domain (no domain). */
const aliasPath = (domain: string | null, id: string) => (domain ? `${domainPath(domain)}/aliases/${encodeURIComponent(id)}` : `/aliases/${encodeURIComponent(id)}`);
/** Where an alias is listed: its domain's page, or the domains page for an alias on every domain. */
const aliasesHome = (domain: string | null) => (domain ? domainPath(domain) : "/domains");

/** How many aliases the domains page reads, newest first, looking for those on every domain (the API filters by one domain only). */
const EVERY_DOMAIN_SCAN = 2000;

/** The domain of an alias route: its `:name`, or null on the routes of the aliases on every domain (`/aliases/...`). */
function routeDomain(c: ConsoleContext): string | null {
  return c.req.param("name") ?? null;
}

/** What a destination does, in words. */
function destinationText(destination: Destination): string {
  switch (destination.type) {
    case "store":
      return "store";
    case "forward":
      return `forward to ${destination.to}`;
    case "webhook":
      return `webhook ${destination.url}`;
    case "odoo":
      return `Odoo database ${destination.db} at ${destination.url}`;
    default:
      return (destination as { type: string }).type;
  }
}

/** The destinations of the create form: one, from the select and the target field. */
function destinationsFrom(kind: string, target: string): Destination[] | string {
  if (kind === "store") return [{ type: "store" }];
  if (kind === "forward") return target ? [{ type: "forward", to: target }] : "Forward to or webhook URL: give the address to forward to.";
  if (kind === "webhook") return target ? [{ type: "webhook", url: target }] : "Forward to or webhook URL: give the webhook's URL.";
  return "Destination: choose store, forward or webhook.";
}

/** Followers typed one per line, `Name <address>` or a bare address. */
function followersFrom(text: string): { email: string; name?: string }[] {
  return text
    .split(/[\r\n]+/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const named = /^(.*?)\s*<([^<>]+)>$/.exec(line);
      if (!named) return { email: line };
      const name = named[1]!.replace(/^"|"$/g, "").trim();
      return name ? { email: named[2]!.trim(), name } : { email: named[2]!.trim() };
    });
}

/** Destinations as the edit form shows them: what a PATCH takes back (an Odoo key stays stored when left out). */
function editableDestinations(destinations: Destination[]): string {
  return JSON.stringify(
    destinations.map((d) => {
      if (d.type !== "odoo") return d;
      const { api_key_set: _set, ...rest } = d;
      return rest;
    }),
    null,
    2,
  );
}

function DomainCheck({ answer }: { answer: ApiAnswer<{ checked_at?: string; summary?: { pass: number; warn: number; fail: number }; items?: CheckItem[] }> }) {
  const items = succeeded(answer) && Array.isArray(answer.body.items) ? answer.body.items : null;
  return (
    <section aria-labelledby="domain-check">
      <h2 id="domain-check">Domain check</h2>
      {items === null ? (
        <p class="muted">The domain check is not available{answer.status === 404 || answer.status >= 500 ? "" : `: ${apiMessage(answer)}`}.</p>
      ) : (
        <>
          {answer.body.summary ? (
            <p>
              {`${answer.body.summary.pass} passed, ${answer.body.summary.warn} with warnings, ${answer.body.summary.fail} failed`}
              {answer.body.checked_at ? (
                <>
                  {" "}
                  (checked <Timestamp at={answer.body.checked_at} />)
                </>
              ) : null}
              .
            </p>
          ) : null}
          <ul class="checks">
            {items.map((item) => {
              const records = item.records ?? (item.record ? [item.record] : []);
              return (
                <li>
                  <StatusBadge status={item.status} tone={item.status === "pass" ? "ok" : item.status === "warn" ? "warn" : "bad"} /> <strong>{item.id}</strong>{" "}
                  <span class="muted">({item.group})</span>: {item.reason}
                  {records.length ? (
                    <>
                      <p class="hint">Publish:</p>
                      <pre>{records.map((r) => `${r.name} ${r.type} ${r.value}`).join("\n")}</pre>
                    </>
                  ) : null}
                </li>
              );
            })}
          </ul>
        </>
      )}
    </section>
  );
}

/** The aliases of a domain, or (`domain` null) those on every domain, each with Edit, Enable/Disable and Delete. */
function AliasTable({ domain, aliases, session }: { domain: string | null; aliases: Alias[]; session: Session }) {
  if (!aliases.length) return <p class="muted">{domain ? "No aliases on this domain yet." : "No aliases on every domain yet."}</p>;
  return (
    <Table caption={domain ? `Aliases on ${domain}` : "Aliases on every domain"} columns={["Address", "Destinations", "Who may write", "Status", "Actions"]}>
      {aliases.map((alias) => (
        <tr>
          <th scope="row">
            <a href={aliasPath(domain, alias.id)} id={`alias-${alias.id}`}>
              {alias.address}
            </a>
          </th>
          <td>{alias.destinations.map(destinationText).join("; ")}</td>
          <td>{POLICY_TEXT[alias.contact]}</td>
          <td>
            <StatusBadge status={alias.enabled ? "enabled" : "disabled"} /> {alias.status === "not_tested" ? null : <StatusBadge status={alias.status} />}
          </td>
          <td>
            <div class="actions">
              <a href={aliasPath(domain, alias.id)} aria-label={`Edit ${alias.address}`}>
                Edit
              </a>
              <ActionButton
                action={`${aliasPath(domain, alias.id)}/enabled`}
                session={session}
                fields={{ enabled: alias.enabled ? "false" : "true" }}
                text={alias.enabled ? "Disable" : "Enable"}
                label={`${alias.enabled ? "Disable" : "Enable"} ${alias.address}`}
              />
              <ActionButton
                action={`${aliasPath(domain, alias.id)}/delete`}
                session={session}
                text="Delete"
                label={`Delete ${alias.address}`}
                danger
                fields={{ address: alias.address }}
              />
            </div>
          </td>
        </tr>
      ))}
    </Table>
  );
}

/** The fields of a "Create alias" form; `idPrefix` keeps their ids apart from another form's on the same page. */
function AliasCreateFields({ values, nameLabel, nameHint, idPrefix }: { values: Record<string, string>; nameLabel: string; nameHint: string; idPrefix?: string }) {
  const id = (name: string) => (idPrefix ? `${idPrefix}-${name}` : undefined);
  return (
    <>
      <Field label={nameLabel} name="name" id={id("name")} required value={values.name} hint={nameHint} autocomplete="off" />
      <Field label="Destination" name="destination" id={id("destination")} options={DESTINATIONS} value={values.destination ?? "store"} />
      <Field
        label="Forward to or webhook URL"
        name="target"
        id={id("target")}
        value={values.target}
        hint="For a forward, a verified address; for a webhook, its https URL"
        autocomplete="off"
      />
      <Field label="Who may write" name="contact" id={id("contact")} options={CONTACT_POLICIES} value={values.contact ?? "everyone"} />
    </>
  );
}

/** The aliases on every domain (no domain): the newest `EVERY_DOMAIN_SCAN` aliases read, and whether there were more. */
async function everyDomainAliases(c: ConsoleContext): Promise<{ items: Alias[]; partial: boolean }> {
  const items: Alias[] = [];
  let cursor: string | null = null;
  for (let read = 0; read < EVERY_DOMAIN_SCAN; read += 200) {
    const page: { items: Alias[]; next_cursor: string | null } = await apiGet(c, `/v1/aliases${query({ limit: 200, cursor })}`);
    items.push(...page.items.filter((alias) => alias.domain === null));
    cursor = page.next_cursor;
    if (!cursor) return { items, partial: false };
  }
  return { items, partial: true };
}

function DomainSettingsFields({ domain, values }: { domain: Partial<Domain>; values: Record<string, string> }) {
  const v = (name: keyof Domain) => values[name] ?? (domain[name] === null || domain[name] === undefined ? "" : String(domain[name]));
  return (
    <>
      <Field label="Company name" name="company_name" value={v("company_name")} hint="Named in the catchall's refusal text" />
      <Field label="Contact address" name="contact_email" type="email" value={v("contact_email")} hint="Where people should write instead of the catchall" />
      <Field label="Default From" name="default_from" value={v("default_from")} hint="A local part (notifications) or a full address" />
      <Field label="Catchall local part" name="catchall" value={v("catchall")} />
      <Field label="Bounce local part" name="bounce" value={v("bounce")} />
      <Field label="Sequence" name="sequence" type="number" inputmode="numeric" min={0} value={v("sequence")} />
    </>
  );
}

/** The body of `PUT /v1/domains/{name}` from the form (empty fields left out, or null where the API clears them). */
function domainBody(form: Record<string, string>): Record<string, unknown> | string {
  const body: Record<string, unknown> = {};
  const company = form.company_name?.trim() ?? "";
  body.company_name = company || null;
  const contact = form.contact_email?.trim() ?? "";
  body.contact_email = contact || null;
  for (const name of ["default_from", "catchall", "bounce"] as const) {
    const value = form[name]?.trim();
    if (value) body[name] = value;
  }
  const sequence = intField(form.sequence);
  if (Number.isNaN(sequence)) return "Sequence: must be a whole number.";
  if (sequence !== undefined) body.sequence = sequence;
  return body;
}

async function domainsPage(c: ConsoleContext): Promise<Response> {
  const flash = await takeFlash(c);
  const cursor = c.req.query("cursor");
  const [list, everywhere] = await Promise.all([apiGet<{ items: Domain[]; next_cursor: string | null }>(c, `/v1/domains${query({ limit: 100, cursor })}`), everyDomainAliases(c)]);
  const values = refill(flash, "add-domain");
  const aliasValues = refill(flash, "create-every-domain-alias");
  const session = c.get("session");
  return render(
    c,
    <Page title="Domains" active="/domains" session={session}>
      <h1>Domains</h1>
      <FlashMessages flash={flash} />
      {flash.secret ? <SecretOnce secret={flash.secret} /> : null}
      {list.items.length ? (
        <Table caption="The mail domains mailgate serves" columns={["Domain", "Company", "Catchall", "Bounce address", "Default From"]}>
          {list.items.map((domain) => (
            <tr>
              <th scope="row">
                <a href={domainPath(domain.name)}>{domain.name}</a>
              </th>
              <td>{domain.company_name ?? <span class="muted">–</span>}</td>
              <td>{domain.catchall_address}</td>
              <td>{domain.bounce_address}</td>
              <td>{domain.default_from_address}</td>
            </tr>
          ))}
        </Table>
      ) : (
        <p class="muted">No domains yet: add the first one below.</p>
      )}
      <Pager base="/domains" params={{}} cursor={list.next_cursor} />
      <section aria-labelledby="add-domain">
        <h2 id="add-domain">Add a domain</h2>
        <PostForm action="/domains" session={session} class="stack">
          <Field label="Domain name" name="name" required value={values.name} placeholder="example.com" autocomplete="off" />
          <DomainSettingsFields domain={{}} values={values} />
          <div>
            <button type="submit">Add domain</button>
          </div>
        </PostForm>
      </section>
      <section aria-labelledby="every-domain">
        <h2 id="every-domain">Aliases on every domain</h2>
        <p class="hint">An alias without a domain answers by its local part on every domain mailgate serves (Odoo's local-part-only aliases).</p>
        <AliasTable domain={null} aliases={everywhere.items} session={session} />
        {everywhere.partial ? <p class="muted">{`Only the newest ${EVERY_DOMAIN_SCAN} aliases were looked through: older ones on every domain are not listed here.`}</p> : null}
        <h3 id="create-every-domain-alias">Create an alias on every domain</h3>
        <PostForm action="/aliases" session={session} class="stack" label="Create an alias on every domain">
          <AliasCreateFields values={aliasValues} nameLabel="Local part" nameHint="The alias answers as local-part@ each domain served" idPrefix="every" />
          <div>
            <button type="submit">Create alias on every domain</button>
          </div>
        </PostForm>
      </section>
    </Page>,
  );
}

async function domainPage(c: ConsoleContext): Promise<Response> {
  const name = c.req.param("name")!;
  const flash = await takeFlash(c);
  const cursor = c.req.query("cursor");
  const [domain, aliases, check] = await Promise.all([
    apiGet<Domain>(c, `/v1/domains/${encodeURIComponent(name)}`),
    apiGet<{ items: Alias[]; next_cursor: string | null }>(c, `/v1/aliases${query({ domain: name, limit: 200, cursor })}`),
    apiCall(c, "GET", `/v1/domains/${encodeURIComponent(name)}/check`),
  ]);
  const session = c.get("session");
  const aliasValues = refill(flash, "create-alias");
  const settingsValues = refill(flash, "domain-settings");
  return render(
    c,
    <Page title={domain.name} active="/domains" session={session}>
      <p>
        <a href="/domains">Domains</a>
      </p>
      <h1>{domain.name}</h1>
      <FlashMessages flash={flash} />
      {flash.secret ? <SecretOnce secret={flash.secret} /> : null}
      <dl class="facts">
        <dt>Company</dt>
        <dd>{domain.company_name ?? "–"}</dd>
        <dt>Catchall</dt>
        <dd>{domain.catchall_address}</dd>
        <dt>Bounce address</dt>
        <dd>{domain.bounce_address}</dd>
        <dt>Default From</dt>
        <dd>{domain.default_from_address}</dd>
        <dt>Contact address</dt>
        <dd>{domain.contact_email ?? "–"}</dd>
        <dt>Added</dt>
        <dd>
          <Timestamp at={domain.created_at} />
        </dd>
      </dl>

      <section aria-labelledby="aliases">
        <h2 id="aliases">Aliases</h2>
        <AliasTable domain={domain.name} aliases={aliases.items} session={session} />
        <Pager base={domainPath(domain.name)} params={{}} cursor={aliases.next_cursor} />
      </section>

      <section aria-labelledby="create-alias">
        <h2 id="create-alias">Create alias</h2>
        <PostForm action={`${domainPath(domain.name)}/aliases`} session={session} class="stack">
          <AliasCreateFields values={aliasValues} nameLabel="Name" nameHint={`The local part: name@${domain.name}`} />
          <div>
            <button type="submit">Create alias</button>
          </div>
        </PostForm>
      </section>

      <DomainCheck answer={check} />

      <section aria-labelledby="domain-settings">
        <h2 id="domain-settings">Domain settings</h2>
        <PostForm action={domainPath(domain.name)} session={session} class="stack">
          <DomainSettingsFields domain={domain} values={settingsValues} />
          <div>
            <button type="submit">Save domain</button>
          </div>
        </PostForm>
      </section>

      <section aria-labelledby="delete-domain">
        <h2 id="delete-domain">Delete this domain</h2>
        <p class="hint">Only a domain without aliases can be deleted; its stored mail stays.</p>
        <ActionButton action={`${domainPath(domain.name)}/delete`} session={session} text="Delete domain" label={`Delete domain ${domain.name}`} danger />
      </section>
    </Page>,
  );
}

function AliasEditForm({ alias, domain, values, session }: { alias: Alias; domain: string | null; values: Record<string, string>; session: Session }) {
  const has = Object.keys(values).length > 0;
  const v = (name: string, current: string) => values[name] ?? current;
  const checked = (name: string, current: boolean) => (has ? values[name] === "on" : current);
  return (
    <PostForm action={aliasPath(domain, alias.id)} session={session} class="stack">
      <Field label="Name" name="name" required value={v("name", alias.name)} autocomplete="off" />
      <Field label="Who may write" name="contact" options={CONTACT_POLICIES} value={v("contact", alias.contact)} />
      <Field
        label="Destinations (JSON)"
        name="destinations"
        multiline
        value={v("destinations", editableDestinations(alias.destinations))}
        hint='A list: {"type":"store"}, {"type":"forward","to":"…"}, {"type":"webhook","url":"…"}, {"type":"odoo",…}. An Odoo API key left out stays as stored.'
      />
      <Field
        label="Followers"
        name="followers"
        multiline
        value={v("followers", alias.followers.map((f) => (f.name ? `${f.name} <${f.address}>` : f.address)).join("\n"))}
        hint="One per line: Name <address>, or an address. They follow every thread the alias opens."
      />
      <Field
        label="Refusal text"
        name="refusal_text"
        multiline
        value={v("refusal_text", alias.refusal_text ?? "")}
        hint="Sent back when the contact policy refuses a sender; empty: Odoo's text"
      />
      <Field
        label="Thread to pin to"
        name="thread_id"
        value={v("thread_id", alias.thread_id ?? "")}
        hint="A thread id: all of the alias's mail joins that thread; empty: each new message opens a thread"
      />
      <Field
        label="Keep raw mail (days)"
        name="raw_retention_days"
        type="number"
        inputmode="numeric"
        min={0}
        value={v("raw_retention_days", alias.raw_retention_days === null ? "" : String(alias.raw_retention_days))}
        hint="Empty: the setting; 0: forever"
      />
      <CheckField name="enabled" label="Enabled" checked={checked("enabled", alias.enabled)} />
      <CheckField name="local_part_only" label="Match the local part on any allowed domain" checked={checked("local_part_only", alias.local_part_only)} />
      <CheckField name="add_sender_as_follower" label="The sender of new mail follows its thread" checked={checked("add_sender_as_follower", alias.add_sender_as_follower)} />
      <div>
        <button type="submit">Save alias</button>
      </div>
    </PostForm>
  );
}

async function aliasPage(c: ConsoleContext): Promise<Response> {
  const name = routeDomain(c);
  const id = c.req.param("id")!;
  const flash = await takeFlash(c);
  const alias = await apiGet<Alias>(c, `/v1/aliases/${encodeURIComponent(id)}`);
  if (alias.domain !== name) return c.redirect(aliasPath(alias.domain, alias.id), 303);
  const session = c.get("session");
  return render(
    c,
    <Page title={alias.address} active="/domains" session={session}>
      <p>
        <a href="/domains">Domains</a> / {name ? <a href={domainPath(name)}>{name}</a> : <a href="/domains#every-domain">Aliases on every domain</a>}
      </p>
      <h1>{alias.address}</h1>
      <FlashMessages flash={flash} />
      {flash.secret ? <SecretOnce secret={flash.secret} /> : null}
      <dl class="facts">
        <dt>State</dt>
        <dd>
          <StatusBadge status={alias.enabled ? "enabled" : "disabled"} /> <StatusBadge status={alias.status} />
        </dd>
        <dt>Destinations</dt>
        <dd>{alias.destinations.map(destinationText).join("; ")}</dd>
        <dt>Who may write</dt>
        <dd>{POLICY_TEXT[alias.contact]}</dd>
        <dt>Mail</dt>
        <dd>
          <a href={`/messages${query({ alias_id: alias.id })}`}>Messages to this alias</a>
        </dd>
      </dl>
      <section aria-labelledby="edit-alias">
        <h2 id="edit-alias">Edit alias</h2>
        <AliasEditForm alias={alias} domain={name} values={refill(flash, "edit-alias")} session={session} />
      </section>
      <section aria-labelledby="remove-alias">
        <h2 id="remove-alias">Delete this alias</h2>
        <p class="hint">Its threads and messages stay.</p>
        <ActionButton
          action={`${aliasPath(name, alias.id)}/delete`}
          session={session}
          text="Delete alias"
          label={`Delete alias ${alias.address}`}
          danger
          fields={{ address: alias.address }}
        />
      </section>
    </Page>,
  );
}

/** The "Create alias" forms: on the route's domain, or on every domain (no domain, `local_part_only`). */
async function createAlias(c: ConsoleContext): Promise<Response> {
  const domain = routeDomain(c);
  const home = aliasesHome(domain);
  const form = await formOf(c);
  const fail = (refusal: string) =>
    redirectWith(c, home, { refusal: `The alias was not created: ${refusal}`, form: domain ? "create-alias" : "create-every-domain-alias", values: form });
  const destinations = destinationsFrom(form.destination ?? "", form.target?.trim() ?? "");
  if (typeof destinations === "string") return fail(destinations);
  const answer = await apiCall<Alias>(c, "POST", "/v1/aliases", {
    name: form.name ?? "",
    domain,
    destinations,
    contact: form.contact || "everyone",
    ...(domain === null && { local_part_only: true }),
  });
  if (!succeeded(answer)) return fail(apiMessage(answer));
  const where = domain ? "" : " on every domain";
  return redirectWith(c, home, { notice: `The alias ${answer.body.address}${where} was created.`, secret: webhookSecretOf(answer.body) });
}

/** The alias's edit form: everything but its domain. */
async function saveAlias(c: ConsoleContext): Promise<Response> {
  const domain = routeDomain(c);
  const id = c.req.param("id")!;
  const form = await formOf(c);
  const fail = (refusal: string) => redirectWith(c, aliasPath(domain, id), { refusal: `The alias was not saved: ${refusal}`, form: "edit-alias", values: form });
  let destinations: unknown;
  try {
    destinations = JSON.parse(form.destinations ?? "");
  } catch {
    return fail("Destinations (JSON): is not JSON.");
  }
  const retention = intField(form.raw_retention_days);
  if (Number.isNaN(retention)) return fail("Keep raw mail (days): must be a whole number.");
  const answer = await apiCall<Alias>(c, "PATCH", `/v1/aliases/${encodeURIComponent(id)}`, {
    name: form.name ?? "",
    contact: form.contact,
    destinations,
    followers: followersFrom(form.followers ?? ""),
    refusal_text: form.refusal_text?.trim() ? form.refusal_text : null,
    thread_id: form.thread_id?.trim() || null,
    raw_retention_days: retention ?? null,
    enabled: form.enabled === "on",
    local_part_only: form.local_part_only === "on",
    add_sender_as_follower: form.add_sender_as_follower === "on",
  });
  if (!succeeded(answer)) return fail(apiMessage(answer));
  return redirectWith(c, aliasPath(answer.body.domain, id), { notice: `The alias ${answer.body.address} was saved.`, secret: webhookSecretOf(answer.body) });
}

/** Enable or Disable on a row of an alias table. */
async function enableAlias(c: ConsoleContext): Promise<Response> {
  const home = aliasesHome(routeDomain(c));
  const id = c.req.param("id")!;
  const form = await formOf(c);
  const enabled = form.enabled === "true";
  const answer = await apiCall<Alias>(c, "PATCH", `/v1/aliases/${encodeURIComponent(id)}`, { enabled });
  if (!succeeded(answer)) return redirectWith(c, home, { refusal: refusalOf(`The alias was not ${enabled ? "enabled" : "disabled"}`, answer) });
  return redirectWith(c, home, { notice: `The alias ${answer.body.address} is ${enabled ? "enabled" : "disabled"}.` });
}

/** Delete, on a row of an alias table or on the alias's page: the button carries the address, for the notice (the id when it is missing). */
async function deleteAlias(c: ConsoleContext): Promise<Response> {
  const home = aliasesHome(routeDomain(c));
  const id = c.req.param("id")!;
  const form = await formOf(c);
  const answer = await apiCall(c, "DELETE", `/v1/aliases/${encodeURIComponent(id)}`);
  if (!succeeded(answer)) return redirectWith(c, home, { refusal: refusalOf("The alias was not deleted", answer) });
  return redirectWith(c, home, { notice: `The alias ${form.address?.trim() || id} was deleted.` });
}

/** The secret of a webhook destination, in the answer that made it. */
function webhookSecretOf(alias: Alias): Flash["secret"] {
  return alias.webhook_secret ? { label: `The webhook signing secret of ${alias.address}`, value: alias.webhook_secret } : undefined;
}

/** Adds the domain pages' routes to the console (src/console/app.tsx). */
export function register(app: ConsoleApp): void {
  app.get("/domains", domainsPage);

  app.post("/domains", async (c) => {
    const form = await formOf(c);
    const name = form.name?.trim().toLowerCase() ?? "";
    const fail = (refusal: string) => redirectWith(c, "/domains", { refusal, form: "add-domain", values: form });
    if (!name) return fail("The domain was not added: Domain name: give the domain's name.");
    const body = domainBody(form);
    if (typeof body === "string") return fail(`The domain was not added: ${body}`);
    const answer = await apiCall<Domain>(c, "PUT", `/v1/domains/${encodeURIComponent(name)}`, body);
    if (!succeeded(answer)) return fail(refusalOf("The domain was not added", answer));
    return redirectWith(c, domainPath(answer.body.name), {
      notice: answer.status === 201 ? `The domain ${answer.body.name} was added.` : `The domain ${answer.body.name} was updated.`,
    });
  });

  app.get("/domains/:name", domainPage);

  app.post("/domains/:name", async (c) => {
    const name = c.req.param("name");
    const form = await formOf(c);
    const fail = (refusal: string) => redirectWith(c, domainPath(name), { refusal, form: "domain-settings", values: form });
    const body = domainBody(form);
    if (typeof body === "string") return fail(`The domain was not saved: ${body}`);
    const answer = await apiCall<Domain>(c, "PUT", `/v1/domains/${encodeURIComponent(name)}`, body);
    if (!succeeded(answer)) return fail(refusalOf("The domain was not saved", answer));
    return redirectWith(c, domainPath(name), { notice: `The domain ${name} was saved.` });
  });

  app.post("/domains/:name/delete", async (c) => {
    const name = c.req.param("name");
    const answer = await apiCall(c, "DELETE", `/v1/domains/${encodeURIComponent(name)}`);
    if (!succeeded(answer)) return redirectWith(c, domainPath(name), { refusal: refusalOf(`The domain ${name} was not deleted`, answer) });
    return redirectWith(c, "/domains", { notice: `The domain ${name} was deleted.` });
  });

  app.post("/domains/:name/aliases", createAlias);
  app.get("/domains/:name/aliases/:id", aliasPage);
  app.post("/domains/:name/aliases/:id", saveAlias);
  app.post("/domains/:name/aliases/:id/enabled", enableAlias);
  app.post("/domains/:name/aliases/:id/delete", deleteAlias);

  // The aliases on every domain (no domain): the same pages and actions, listed on /domains.
  app.post("/aliases", createAlias);
  app.get("/aliases/:id", aliasPage);
  app.post("/aliases/:id", saveAlias);
  app.post("/aliases/:id/enabled", enableAlias);
  app.post("/aliases/:id/delete", deleteAlias);
}
