/**
 * What every console form shares. Every form posts, the page answers 303
 * back to a page, and that page shows what happened (a Notice, or the
 * API's refusal naming the field) from a one-time cookie: AES-GCM under a
 * key derived from SECRETS_KEY and the session (so it is readable by this
 * session only, and a secret shown once, such as a new API key, is never in
 * a URL), read once, then cleared. Plus the form pieces the pages share.
 */
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { fromBase64, toBase64Url } from "../mail/bytes";
import { type ApiAnswer, apiMessage } from "./api-client";
import { Notice, PostForm, Refusal } from "./components";
import { type ConsoleContext, CSRF_FIELD, type Session } from "./session";

/** What a page shows once, after the redirect that followed a form. */
export interface Flash {
  notice?: string;
  refusal?: string;
  /** Which form the values belong to (refilled after a refusal). */
  form?: string;
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

async function flashKey(c: ConsoleContext, usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
  const material = encoder.encode(`${c.env.SECRETS_KEY ?? ""}\u0000${c.get("session").id}`);
  const base = await crypto.subtle.importKey("raw", material, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: encoder.encode("mailgate"), info: encoder.encode("console-flash") },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

async function through(bytes: Uint8Array<ArrayBuffer>, transform: CompressionStream | DecompressionStream): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(transform)).arrayBuffer());
}

/** The flash compressed, cut down until it fits a cookie: refilled values dropped first, then a long answer shortened. */
async function packed(flash: Flash): Promise<Uint8Array<ArrayBuffer>> {
  const base: Flash = { ...flash, ...(flash.notice && { notice: clip(flash.notice, 2000) }), ...(flash.refusal && { refusal: clip(flash.refusal, 2000) }) };
  const { values: _values, ...bare } = base;
  const shorter = (max: number): Flash => ({ ...bare, ...(bare.answer && { answer: { ...bare.answer, text: clip(bare.answer.text, max) } }) });
  let bytes = new Uint8Array();
  for (const candidate of [base, bare, shorter(8000), shorter(3000), shorter(1000)]) {
    bytes = await through(new Uint8Array(encoder.encode(JSON.stringify(candidate))), new CompressionStream("deflate-raw"));
    if (bytes.byteLength <= MAX_FLASH_BYTES) break;
  }
  return bytes;
}

/** Answers a form: 303 to `location`, which shows `flash` once. */
export async function redirectWith(c: ConsoleContext, location: string, flash: Flash): Promise<Response> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await flashKey(c, "encrypt"), await packed(flash)));
  const value = new Uint8Array(iv.length + sealed.length);
  value.set(iv);
  value.set(sealed, iv.length);
  setCookie(c, FLASH_COOKIE, toBase64Url(value), { httpOnly: true, secure: true, sameSite: "Strict", path: "/", maxAge: 120 });
  return c.redirect(location, 303);
}

/** What the last form left to show (read once: the cookie is cleared), or nothing. */
export async function takeFlash(c: ConsoleContext): Promise<Flash> {
  const value = getCookie(c, FLASH_COOKIE);
  if (!value) return {};
  deleteCookie(c, FLASH_COOKIE, { httpOnly: true, secure: true, sameSite: "Strict", path: "/" });
  try {
    const bytes = fromBase64(value.replaceAll("-", "+").replaceAll("_", "/"));
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.slice(0, 12) }, await flashKey(c, "decrypt"), bytes.slice(12));
    return JSON.parse(new TextDecoder().decode(await through(new Uint8Array(plain), new DecompressionStream("deflate-raw")))) as Flash;
  } catch {
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
