/**
 * What every console form shares. Every form posts, the page answers 303
 * back to a page, and that page shows what happened (a Notice, or the
 * API's refusal naming the field) from a one-time cookie: sealed by
 * src/secrets.ts (AES-GCM, bound to the session id, so it is readable by
 * this session only, and a secret shown once, such as a new API key, is
 * never in a URL), read once, then cleared. Plus the form pieces the pages
 * share.
 */
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { fromBase64Url, toBase64Url } from "../mail/bytes";
import { SECRET_FIELDS } from "../outbound/relays/settings";
import { MissingSecretsKey, sealBytes, unsealBytes } from "../secrets";
import { type ApiAnswer, apiMessage } from "./api-client";
import { Notice, PostForm, Refusal, truncate } from "./components";
import { type ConsoleContext, CSRF_FIELD, type Session } from "./session";

/** What a page shows once, after the redirect that followed a form. */
export interface Flash {
  notice?: string;
  refusal?: string;
  /** Which form the values belong to (refilled after a refusal). */
  form?: string;
  /** What was typed, refilled after a refusal: credentials never kept (see withoutCredentials). */
  values?: Record<string, string>;
  /** A secret shown this once (a new API key, a webhook signing secret). */
  secret?: { label: string; value: string };
  /** A relay's or a mailbox's answer to a test: what it means, and what it said (shown in a `<pre>`). */
  answer?: { ok: boolean; summary: string; text: string };
}

const FLASH_COOKIE = "mailgate_flash";
/** A cookie holds 4 KB: sealed, compressed and base64url-encoded, this many bytes stay under it. */
const MAX_FLASH_BYTES = 2800;
const encoder = new TextEncoder();

/** Form fields that are credentials: never refilled, whichever form they are on. */
const CREDENTIAL_FIELDS: ReadonlySet<string> = new Set(["password", "oauth", "api_key", "client_secret", "refresh_token", "token"]);
/** JSON boxes that may carry credentials among other settings: a relay's `config`, an alias's `destinations`. */
const JSON_BOXES: ReadonlySet<string> = new Set(["config", "destinations"]);
/** The keys dropped from those boxes, at any depth: the fields above, (an Odoo `api_key` among them), every relay type's secret settings, a webhook's signing `secret`. */
const CREDENTIAL_KEYS: ReadonlySet<string> = new Set([...CREDENTIAL_FIELDS, ...Object.values(SECRET_FIELDS).flat(), "secret"]);

/** A JSON box's text without its credential keys (as typed when it had none), or undefined when it is not JSON (it may hold one we cannot find). */
function jsonWithoutCredentials(text: string): string | undefined {
  if (text.trim() === "") return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  let dropped = false;
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== "object") return value;
    const kept: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      if (CREDENTIAL_KEYS.has(key)) dropped = true;
      else kept[key] = strip(inner);
    }
    return kept;
  };
  const cleaned = strip(parsed);
  return dropped ? JSON.stringify(cleaned, null, 2) : text;
}

/**
 * The values to refill a form with, credentials left out. Here, for every
 * form, rather than in each page: a credential refilled would be written
 * back into the page's HTML (kept by the browser's cache and history,
 * readable by extensions and over a shoulder) after riding in a cookie, and
 * a page that forgot its own copy would leak it. Typing it again is the
 * price.
 */
function withoutCredentials(values: Record<string, string>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (CREDENTIAL_FIELDS.has(name)) continue;
    const text = JSON_BOXES.has(name) ? jsonWithoutCredentials(value) : value;
    if (text !== undefined) kept[name] = text;
  }
  return kept;
}

async function through(bytes: Uint8Array<ArrayBuffer>, transform: CompressionStream | DecompressionStream): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(transform)).arrayBuffer());
}

/** The flash compressed, credentials dropped from its values, cut down until it fits a cookie: refilled values dropped first, then a long answer shortened. */
async function packed(flash: Flash): Promise<Uint8Array<ArrayBuffer>> {
  const base: Flash = {
    ...flash,
    ...(flash.values && { values: withoutCredentials(flash.values) }),
    ...(flash.notice && { notice: truncate(flash.notice, 2000) }),
    ...(flash.refusal && { refusal: truncate(flash.refusal, 2000) }),
  };
  const { values: _values, ...bare } = base;
  const shorter = (max: number): Flash => ({ ...bare, ...(bare.answer && { answer: { ...bare.answer, text: truncate(bare.answer.text, max) } }) });
  let bytes = new Uint8Array();
  for (const candidate of [base, bare, shorter(8000), shorter(3000), shorter(1000)]) {
    bytes = await through(new Uint8Array(encoder.encode(JSON.stringify(candidate))), new CompressionStream("deflate-raw"));
    if (bytes.byteLength <= MAX_FLASH_BYTES) break;
  }
  return bytes;
}

/** Answers a form: 303 to `location`, which shows `flash` once (throws MissingSecretsKey without SECRETS_KEY). */
export async function redirectWith(c: ConsoleContext, location: string, flash: Flash): Promise<Response> {
  const sealed = await sealBytes(c.env.SECRETS_KEY, await packed(flash), "console-flash", c.get("session").id);
  setCookie(c, FLASH_COOKIE, toBase64Url(sealed), { httpOnly: true, secure: true, sameSite: "Strict", path: "/", maxAge: 120 });
  return c.redirect(location, 303);
}

/** What the last form left to show (read once: the cookie is cleared), or nothing. */
export async function takeFlash(c: ConsoleContext): Promise<Flash> {
  const value = getCookie(c, FLASH_COOKIE);
  if (!value) return {};
  deleteCookie(c, FLASH_COOKIE, { httpOnly: true, secure: true, sameSite: "Strict", path: "/" });
  try {
    const plain = await unsealBytes(c.env.SECRETS_KEY, fromBase64Url(value), "console-flash", c.get("session").id);
    return JSON.parse(new TextDecoder().decode(await through(plain, new DecompressionStream("deflate-raw")))) as Flash;
  } catch (error) {
    if (error instanceof MissingSecretsKey) throw error;
    // Another session's, or from before SECRETS_KEY changed: nothing to show.
    return {};
  }
}

/** The flash's notice and refusal, where a page shows them (under its h1). */
export function FlashMessages({ flash }: { flash: Flash }) {
  return (
    <>
      {flash.notice ? <Notice>{flash.notice}</Notice> : null}
      {flash.refusal ? <Refusal>{flash.refusal}</Refusal> : null}
    </>
  );
}

/** The values to refill `form` with after a refusal (empty otherwise). */
export function refill(flash: Flash, form: string): Record<string, string> {
  return flash.form === form ? (flash.values ?? {}) : {};
}

/** The fields of the form being posted, as text (the CSRF field left out; checkCsrf has read it). */
export async function formOf(c: ConsoleContext): Promise<Record<string, string>> {
  const body = await c.req.parseBody();
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(body)) if (typeof value === "string" && name !== CSRF_FIELD) fields[name] = value;
  return fields;
}

/** Whether the API did it. */
export function succeeded(answer: ApiAnswer<unknown>): boolean {
  return answer.status >= 200 && answer.status < 300;
}

/** The refusal shown for a failed API answer: what was being done, then the API's own words (which name the field). */
export function refusalOf(doing: string, answer: ApiAnswer<unknown>): string {
  return `${doing}: ${apiMessage(answer)}`;
}

/** `value` as an integer for the API, or undefined when left empty (the API keeps its default), or NaN when it is not one. */
export function intField(value: string | undefined): number | undefined {
  const text = value?.trim() ?? "";
  if (text === "") return undefined;
  return /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
}

/** A small POST form with one button: an action on a row (enable, delete, lift, revoke). */
export function ActionButton(props: { action: string; session: Session; text: string; label?: string; describedBy?: string; danger?: boolean; fields?: Record<string, string> }) {
  return (
    <PostForm action={props.action} session={props.session} class="inline">
      {Object.entries(props.fields ?? {}).map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
      <button type="submit" class={props.danger ? "danger" : "secondary"} aria-label={props.label} aria-describedby={props.describedBy}>
        {props.text}
      </button>
    </PostForm>
  );
}

/** A checkbox with its label (the `Field` component has none). */
export function CheckField({ name, label, checked, hint }: { name: string; label: string; checked: boolean; hint?: string }) {
  return (
    <div class="field">
      <span>
        <input type="checkbox" id={name} name={name} value="on" checked={checked} aria-describedby={hint ? `${name}-hint` : undefined} /> <label for={name}>{label}</label>
      </span>
      {hint ? (
        <span class="hint" id={`${name}-hint`}>
          {hint}
        </span>
      ) : null}
    </div>
  );
}

/** A secret shown this once, in an `<output>` (a webhook signing secret here; a new API key on the keys page). */
export function SecretOnce({ secret, id }: { secret: { label: string; value: string }; id?: string }) {
  return (
    <section aria-label={secret.label}>
      <p role="status">
        {secret.label} (shown this once: copy it now):{" "}
        <output id={id} class="secret">
          {secret.value}
        </output>
      </p>
    </section>
  );
}
