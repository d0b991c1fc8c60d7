/**
 * Route test: an envelope (MAIL FROM, RCPT TO) and the headers or a whole
 * message, routed by `POST /v1/route-test` exactly as `email()` would route
 * it, with nothing recorded or delivered; the page shows the decision as
 * the steps of its trace (src/console/trace.ts) and the SMTP answer the
 * sending server would get. Nothing changes, so the form's answer is the
 * page itself (no redirect: there is nothing to repeat by reloading, and
 * a pasted message would not fit where a redirect could carry it).
 */
import type { Decision } from "../../decision";
import { apiCall, apiMessage } from "../api-client";
import { Field, Notice, PostForm, Refusal, StatusBadge } from "../components";
import { formOf, succeeded } from "../forms";
import { Page, render } from "../layout";
import type { ConsoleApp, ConsoleContext } from "../session";
import { type TraceStep, traceSteps } from "../trace";

interface RouteTestResult {
  decision: Decision;
  smtp: { action: "accept" | "reject"; text: string | null };
}

type Outcome = { kind: "result"; result: RouteTestResult; aliases: Map<string, string> } | { kind: "refused"; text: string } | null;

/** Header lines or a whole message, as the API takes it: CRLF line ends and a header block that ends. */
function messageText(pasted: string): string {
  let text = pasted.replace(/\r?\n/g, "\r\n");
  if (!text.includes("\r\n\r\n")) text = `${text.replace(/(\r\n)+$/, "")}\r\n\r\n`;
  return text;
}

const STEP_TONE: Record<TraceStep["kind"], string> = { match: "ok", refused: "bad", skipped: "warn", note: "neutral", answer: "info" };

function Result({ outcome }: { outcome: Outcome }) {
  if (outcome === null) return null;
  if (outcome.kind === "refused") return <Refusal>{outcome.text}</Refusal>;
  const { decision, smtp } = outcome.result;
  const steps = traceSteps(decision, { alias: (id) => outcome.aliases.get(id) });
  return (
    <section aria-labelledby="decision">
      <h2 id="decision">Decision</h2>
      <Notice>Nothing was recorded or delivered: this is what mailgate would decide.</Notice>
      <dl class="facts">
        <dt>Outcome</dt>
        <dd>
          <StatusBadge status={decision.outcome} /> {decision.reason.replaceAll("_", " ")}
        </dd>
        <dt>SMTP answer</dt>
        <dd>
          {smtp.action === "accept" ? "accepted (250)" : "refused (5xx)"}
          {smtp.text ? <pre>{smtp.text}</pre> : null}
        </dd>
      </dl>
      <h2 id="trace">Decision trace</h2>
      <ol class="trace">
        {steps.map((s) => (
          <li class={STEP_TONE[s.kind]}>{s.text}</li>
        ))}
      </ol>
      <details>
        <summary>The decision as the API gives it</summary>
        <pre>{JSON.stringify(decision, null, 2)}</pre>
      </details>
    </section>
  );
}

function routeTestPage(c: ConsoleContext, values: Record<string, string>, outcome: Outcome, status: 200 | 400 = 200): Promise<Response> {
  return render(
    c,
    <Page title="Route test" active="/route-test" session={c.get("session")}>
      <h1>Route test</h1>
      <p class="hint">
        What mailgate would do with a message: the same routing as real mail (aliases, replies, bounces, contact policies, the loop guard), with nothing recorded, delivered or
        counted.
      </p>
      <PostForm action="/route-test" session={c.get("session")} class="stack" label="Route a message">
        <Field label="Envelope sender (MAIL FROM)" name="from" value={values.from} placeholder="mary@example.org" hint="Empty for a bounce" autocomplete="off" />
        <Field label="Envelope recipient (RCPT TO)" name="to" required value={values.to} placeholder="sales@example.com" autocomplete="off" />
        <Field
          label="Headers or the whole message"
          name="message"
          multiline
          value={values.message}
          placeholder={"From: Mary <mary@example.org>\nTo: sales@example.com\nSubject: Hello\nMessage-ID: <1@example.org>"}
          hint="Paste the header block, or the whole message (a bounce is read too). Empty: From and To from the envelope."
        />
        <div>
          <button type="submit">Test the route</button>
        </div>
      </PostForm>
      <Result outcome={outcome} />
    </Page>,
    status,
  );
}

/** Adds the route test page's routes to the console (src/console/app.tsx). */
export function register(app: ConsoleApp): void {
  app.get("/route-test", (c) => routeTestPage(c, {}, null));

  app.post("/route-test", async (c) => {
    const form = await formOf(c);
    const from = form.from?.trim() ?? "";
    const to = form.to?.trim() ?? "";
    const pasted = form.message ?? "";
    const body = pasted.trim() ? { from, to, raw: messageText(pasted) } : { from, to, headers: { ...(from && { From: from }), To: to } };
    const answer = await apiCall<RouteTestResult>(c, "POST", "/v1/route-test", body);
    if (!succeeded(answer)) return routeTestPage(c, form, { kind: "refused", text: `The message could not be routed: ${apiMessage(answer)}` }, 400);
    // Name the aliases the routes took (at most a few lookups).
    const ids = answer.body.decision.reason === "routed" ? [...new Set(answer.body.decision.routes.flatMap((r) => (r.alias_id ? [r.alias_id] : [])))].slice(0, 10) : [];
    const aliases = new Map<string, string>();
    await Promise.all(
      ids.map(async (id) => {
        const alias = await apiCall<{ address: string }>(c, "GET", `/v1/aliases/${encodeURIComponent(id)}`);
        if (succeeded(alias)) aliases.set(id, alias.body.address);
      }),
    );
    return routeTestPage(c, form, { kind: "result", result: answer.body, aliases });
  });
}
