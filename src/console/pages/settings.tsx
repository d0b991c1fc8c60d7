/**
 * Settings: the sender loop guard (Odoo's `mail.gateway.loop.*`), the
 * domains local-part-only aliases match on, retention; the allowed senders
 * the loop guard lets through (`mail.gateway.allowed`); what retention
 * deleted lately.
 */
import { apiCall, apiGet, apiMessage } from "../api-client";
import { Field, PostForm, Table, Timestamp } from "../components";
import { ActionButton, FlashMessages, formOf, intField, redirectWith, refill, refusalOf, succeeded, takeFlash } from "../forms";
import { Page, render } from "../layout";
import type { ConsoleApp, ConsoleContext } from "../session";

interface Settings {
  loop_minutes: number;
  loop_threshold: number;
  allowed_domains: string[];
  raw_retention_days: number;
  record_retention_days: number;
}

const NUMBERS = [
  ["loop_minutes", "Loop window (minutes)"],
  ["loop_threshold", "Loop threshold (messages)"],
  ["raw_retention_days", "Keep raw mail (days)"],
  ["record_retention_days", "Keep message records (days)"],
] as const;

async function settingsPage(c: ConsoleContext): Promise<Response> {
  const flash = await takeFlash(c);
  const [settings, senders, retention] = await Promise.all([
    apiGet<Settings>(c, "/v1/settings"),
    apiGet<{ items: { email: string; created_at: string }[]; next_cursor: string | null }>(c, "/v1/allowed-senders?limit=200"),
    apiCall<{ deleted_total: { raw: number; records: number; threads: number }; runs: { ran_at: string }[] }>(c, "GET", "/v1/retention"),
  ]);
  const session = c.get("session");
  const values = refill(flash, "settings");
  const v = (name: keyof Settings, current: string) => values[name] ?? current;
  return render(
    c,
    <Page title="Settings" active="/settings" session={session}>
      <h1>Settings</h1>
      <FlashMessages flash={flash} />
      <section aria-labelledby="gateway-settings">
        <h2 id="gateway-settings">Gateway settings</h2>
        <PostForm action="/settings" session={session} class="stack">
          <Field
            label="Loop window (minutes)"
            name="loop_minutes"
            type="number"
            inputmode="numeric"
            min={1}
            required
            value={v("loop_minutes", String(settings.loop_minutes))}
            hint="The sender loop guard counts a sender's messages into one target over this window (Odoo: 120)"
          />
          <Field
            label="Loop threshold (messages)"
            name="loop_threshold"
            type="number"
            inputmode="numeric"
            min={1}
            required
            value={v("loop_threshold", String(settings.loop_threshold))}
            hint="More than this many within the window are refused (Odoo: 20)"
          />
          <Field
            label="Allowed domains"
            name="allowed_domains"
            multiline
            value={v("allowed_domains", settings.allowed_domains.join("\n"))}
            hint="One per line (or comma-separated): where local-part-only aliases match; empty: any domain"
          />
          <Field
            label="Keep raw mail (days)"
            name="raw_retention_days"
            type="number"
            inputmode="numeric"
            min={0}
            required
            value={v("raw_retention_days", String(settings.raw_retention_days))}
            hint="0: forever; an alias may say otherwise"
          />
          <Field
            label="Keep message records (days)"
            name="record_retention_days"
            type="number"
            inputmode="numeric"
            min={0}
            required
            value={v("record_retention_days", String(settings.record_retention_days))}
            hint="0: forever"
          />
          <div>
            <button type="submit">Save settings</button>
          </div>
        </PostForm>
      </section>

      <section aria-labelledby="allowed-senders">
        <h2 id="allowed-senders">Allowed senders</h2>
        <p class="hint">The sender loop guard never refuses these addresses.</p>
        {senders.items.length ? (
          <Table caption="Senders exempt from the loop guard" columns={["Address", "Added", "Actions"]}>
            {senders.items.map((sender) => (
              <tr>
                <th scope="row">{sender.email}</th>
                <td>
                  <Timestamp at={sender.created_at} />
                </td>
                <td>
                  <ActionButton
                    action="/settings/allowed-senders/remove"
                    session={session}
                    fields={{ email: sender.email }}
                    text="Remove"
                    label={`Remove ${sender.email}`}
                    danger
                  />
                </td>
              </tr>
            ))}
          </Table>
        ) : (
          <p class="muted">No allowed senders.</p>
        )}
        <PostForm action="/settings/allowed-senders" session={session} class="stack">
          <Field label="Sender address" name="email" type="email" required value={refill(flash, "allowed-sender").email} autocomplete="off" />
          <div>
            <button type="submit">Allow sender</button>
          </div>
        </PostForm>
      </section>

      {succeeded(retention) ? (
        <section aria-labelledby="retention">
          <h2 id="retention">Retention</h2>
          <p>
            {`Deleted so far: ${retention.body.deleted_total.raw} raw copies, ${retention.body.deleted_total.records} records, ${retention.body.deleted_total.threads} threads.`}
            {retention.body.runs[0] ? (
              <>
                {" "}
                Last sweep that deleted something: <Timestamp at={retention.body.runs[0].ran_at} />.
              </>
            ) : null}
          </p>
        </section>
      ) : null}
    </Page>,
  );
}

/** Adds the settings page's routes to the console (src/console/app.tsx). */
export function register(app: ConsoleApp): void {
  app.get("/settings", settingsPage);

  app.post("/settings", async (c) => {
    const form = await formOf(c);
    const fail = (refusal: string) => redirectWith(c, "/settings", { refusal: `The settings were not saved: ${refusal}`, form: "settings", values: form });
    const body: Record<string, unknown> = {};
    for (const [name, label] of NUMBERS) {
      const value = intField(form[name]);
      if (value === undefined || Number.isNaN(value)) return fail(`${label}: must be a whole number.`);
      body[name] = value;
    }
    body.allowed_domains = (form.allowed_domains ?? "")
      .split(/[\s,]+/)
      .map((d) => d.trim())
      .filter(Boolean);
    const answer = await apiCall(c, "PUT", "/v1/settings", body);
    if (!succeeded(answer)) return fail(apiMessage(answer));
    return redirectWith(c, "/settings", { notice: "The settings were saved." });
  });

  app.post("/settings/allowed-senders", async (c) => {
    const form = await formOf(c);
    const answer = await apiCall<{ email: string }>(c, "POST", "/v1/allowed-senders", { email: form.email ?? "" });
    if (!succeeded(answer)) return redirectWith(c, "/settings", { refusal: refusalOf("The sender was not allowed", answer), form: "allowed-sender", values: form });
    return redirectWith(c, "/settings", { notice: `${answer.body.email} may now write as often as it likes.` });
  });

  app.post("/settings/allowed-senders/remove", async (c) => {
    const { email = "" } = await formOf(c);
    const answer = await apiCall(c, "DELETE", `/v1/allowed-senders/${encodeURIComponent(email)}`);
    if (!succeeded(answer)) return redirectWith(c, "/settings", { refusal: refusalOf(`${email} was not removed`, answer) });
    return redirectWith(c, "/settings", { notice: `${email} is no longer an allowed sender: the loop guard counts it again.` });
  });
}
