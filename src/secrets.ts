/**
 * Keys derived from the `SECRETS_KEY` Worker secret (HKDF-SHA256, one key
 * per purpose): AES-GCM to seal relay credentials and webhook secrets at
 * rest in D1 and the console's one-time flash cookie, HMAC to sign VERP
 * bounce tokens and download URLs. Rotating
 * SECRETS_KEY invalidates all of them.
 */
import { fromBase64, toBase64, toHex } from "./mail/bytes";

/** One derived key per use: relay credentials and webhook secrets at rest, the console's flash cookie, VERP tokens, signed download URLs, unsubscribe tokens. */
export type KeyPurpose =
  | "relay-credentials"
  | "webhook-secrets"
  | "incoming-credentials"
  | "odoo-api-keys"
  | "oauth-tokens"
  | "console-flash"
  | "verp"
  | "signed-urls"
  | "unsubscribe"
  | "erasure";
type SealPurpose = Extract<KeyPurpose, "relay-credentials" | "webhook-secrets" | "incoming-credentials" | "odoo-api-keys" | "oauth-tokens">;
type BytesPurpose = Extract<KeyPurpose, "console-flash">;

const encoder = new TextEncoder();

/** Its own class, so the API can answer a 500 that says what to do (src/api/relays.ts, aliases.ts) instead of a bare internal error. */
export class MissingSecretsKey extends Error {
  override name = "MissingSecretsKey";
  constructor() {
    super("the SECRETS_KEY secret is not set (wrangler secret put SECRETS_KEY; .dev.vars locally)");
  }
}

/** Derived keys, per secret and use, for the life of the isolate (deriving costs more than using). */
const derived = new Map<string, Promise<CryptoKey>>();

function derive(
  secret: string | undefined,
  purpose: KeyPurpose,
  algorithm: { name: "AES-GCM"; length: 256 } | { name: "HMAC"; hash: "SHA-256" },
  usages: ("encrypt" | "decrypt" | "sign")[],
): Promise<CryptoKey> {
  if (!secret) throw new MissingSecretsKey();
  const cacheKey = `${purpose}:${usages.join(",")}:${secret}`;
  let key = derived.get(cacheKey);
  if (!key) {
    key = crypto.subtle
      .importKey("raw", encoder.encode(secret), "HKDF", false, ["deriveKey"])
      .then((base) => crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: encoder.encode("mailgate"), info: encoder.encode(purpose) }, base, algorithm, false, usages));
    key.catch(() => derived.delete(cacheKey));
    derived.set(cacheKey, key);
  }
  return key;
}

/** `v1.<iv>.<ciphertext>`, base64. */
export async function seal(secret: string | undefined, value: unknown, purpose: SealPurpose = "relay-credentials"): Promise<string> {
  const key = await derive(secret, purpose, { name: "AES-GCM", length: 256 }, ["encrypt"]);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, encoder.encode(JSON.stringify(value)));
  return `v1.${toBase64(iv)}.${toBase64(new Uint8Array(sealed))}`;
}

/** AES-GCM authenticates: a value sealed under another SECRETS_KEY or purpose throws, rather than reading as garbage. */
export async function unseal<T = Record<string, string>>(secret: string | undefined, sealed: string, purpose: SealPurpose = "relay-credentials"): Promise<T> {
  const [version, iv, data] = sealed.split(".");
  if (version !== "v1" || !iv || !data) throw new Error("sealed secrets: unknown format");
  const key = await derive(secret, purpose, { name: "AES-GCM", length: 256 }, ["decrypt"]);
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64(iv) }, key, fromBase64(data));
  return JSON.parse(new TextDecoder().decode(plain)) as T;
}

/**
 * `<iv><ciphertext>` of `bytes` (AES-GCM), bound to `additionalData`: only
 * the same additional data opens it (the console's flash cookie gives the
 * session id, so another session cannot read it).
 */
export async function sealBytes(secret: string | undefined, bytes: Uint8Array<ArrayBuffer>, purpose: BytesPurpose, additionalData: string): Promise<Uint8Array<ArrayBuffer>> {
  const key = await derive(secret, purpose, { name: "AES-GCM", length: 256 }, ["encrypt"]);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: encoder.encode(additionalData) }, key, bytes));
  const out = new Uint8Array(iv.byteLength + sealed.byteLength);
  out.set(iv);
  out.set(sealed, iv.byteLength);
  return out;
}

/** What sealBytes sealed; throws when it was sealed under another SECRETS_KEY, purpose or additional data, or was altered. */
export async function unsealBytes(secret: string | undefined, sealed: Uint8Array<ArrayBuffer>, purpose: BytesPurpose, additionalData: string): Promise<Uint8Array<ArrayBuffer>> {
  const key = await derive(secret, purpose, { name: "AES-GCM", length: 256 }, ["decrypt"]);
  if (sealed.byteLength < 12 + 16) throw new Error("sealed bytes: too short");
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: sealed.slice(0, 12), additionalData: encoder.encode(additionalData) }, key, sealed.slice(12));
  return new Uint8Array(plain);
}

/** HMAC-SHA256 of `data` under a key given as text (a webhook secret), as lowercase hex. */
export async function hmacHexWith(key: string, data: string): Promise<string> {
  const imported = await crypto.subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return toHex(await crypto.subtle.sign("HMAC", imported, encoder.encode(data)));
}

/** HMAC-SHA256 of `data` with the key for `purpose`, as lowercase hex. */
export async function hmacHex(secret: string | undefined, purpose: KeyPurpose, data: string): Promise<string> {
  const key = await derive(secret, purpose, { name: "HMAC", hash: "SHA-256" }, ["sign"]);
  return toHex(await crypto.subtle.sign("HMAC", key, encoder.encode(data)));
}
