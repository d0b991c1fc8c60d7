/**
 * Webhook signatures: `mailgate-signature: t=<unix seconds>,v1=<hex
 * HMAC-SHA256 of "<t>.<body>">`, one `v1` per valid secret of the alias, so
 * a receiver holding either the new or the previous secret verifies during
 * a rotation. Secrets are sealed at rest (src/secrets.ts) and shown once,
 * when made.
 */
import { toBase64Url } from "../mail/bytes";
import { hmacHexWith, seal, unseal } from "../secrets";

export const SIGNATURE_HEADER = "mailgate-signature";

export interface WebhookSecret {
  secret: string;
  created_at: number;
  /** When a rotated-out secret stops being used; null for the current one. */
  expires_at: number | null;
}

/** The secret made when an alias gets its first webhook without one given (`secretsForDestinations`), shown once: 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${toBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`;
}

/** The secrets still valid at `now`, newest first. */
export async function openSecrets(secretsKey: string | undefined, sealed: string | null, now: number): Promise<WebhookSecret[]> {
  if (!sealed) return [];
  const all = await unseal<WebhookSecret[]>(secretsKey, sealed, "webhook-secrets");
  return all.filter((s) => s.expires_at === null || s.expires_at > now).sort((a, b) => b.created_at - a.created_at);
}

/** A new current secret; the previous current one stays valid for `overlapSeconds` (0: at once invalid). */
export async function rotateSecrets(secretsKey: string | undefined, sealed: string | null, secret: string, overlapSeconds: number, now: number): Promise<string> {
  const previous = (await openSecrets(secretsKey, sealed, now)).find((s) => s.expires_at === null);
  const list: WebhookSecret[] = [{ secret, created_at: now, expires_at: null }];
  if (previous && overlapSeconds > 0) list.push({ ...previous, expires_at: now + overlapSeconds * 1000 });
  return seal(secretsKey, list, "webhook-secrets");
}

/**
 * One `v1=` per secret, each over the same `<t>.<body>`: a receiver
 * accepts when any matches the secret it holds, and can refuse an old `t`
 * as a replay.
 */
export async function signatureHeader(secrets: string[], timestampSeconds: number, body: string): Promise<string> {
  const signatures = await Promise.all(secrets.map((s) => hmacHexWith(s, `${timestampSeconds}.${body}`)));
  return [`t=${timestampSeconds}`, ...signatures.map((v) => `v1=${v}`)].join(",");
}

/**
 * An alias's sealed secrets after a change of its destinations: the secret
 * the request gave, or a new one when the alias gets its first webhook
 * (`shown`: to be answered once); unchanged otherwise.
 */
export async function secretsForDestinations(
  secretsKey: string | undefined,
  current: string | null,
  hasWebhook: boolean,
  given: string | null,
  now: number,
): Promise<{ sealed: string | null; shown: string | undefined }> {
  if (!given && (current || !hasWebhook)) return { sealed: current, shown: undefined };
  const secret = given ?? newWebhookSecret();
  return { sealed: await rotateSecrets(secretsKey, current, secret, 0, now), shown: given ? undefined : secret };
}
