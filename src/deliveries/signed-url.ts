/**
 * Expiring download links for what a webhook payload names (the raw MIME,
 * each attachment): `<PUBLIC_URL>/files/<message>/<part>?expires=<unix
 * seconds>&signature=<hex HMAC>`. Anyone holding the link may fetch it until
 * it expires, and nothing else; the key is derived from SECRETS_KEY.
 */
import { secretsEqual } from "../hash";
import { hmacHex } from "../secrets";

/** How long a link in a payload works. */
export const LINK_LIFETIME_SECONDS = 7 * 24 * 3600;

const message = (path: string, expires: number) => `${path}\n${expires}`;

/**
 * The link a payload gives for one file. The HMAC covers the path and the
 * expiry, so neither can be changed; `verifySignedPath` checks it when the
 * link is used.
 */
export async function signedUrl(publicUrl: string, secretsKey: string | undefined, path: string, expires: number): Promise<string> {
  const signature = await hmacHex(secretsKey, "signed-urls", message(path, expires));
  return `${publicUrl.replace(/\/+$/, "")}${path}?expires=${expires}&signature=${signature}`;
}

/**
 * Whether a link is the one we signed, spelled exactly as we wrote it: the
 * expiry as plain decimal seconds, the signature as 64 lowercase hex
 * digits (so `0x…`, `+…`, `01`, `1.0` or `-0` never name the same link).
 */
export async function verifySignedPath(secretsKey: string | undefined, path: string, expires: string | undefined, signature: string | undefined, now: number): Promise<boolean> {
  if (!expires || !/^[1-9][0-9]{0,15}$/.test(expires) || !signature || !/^[0-9a-f]{64}$/.test(signature)) return false;
  const seconds = Number(expires);
  if (seconds * 1000 < now) return false;
  return secretsEqual(signature, await hmacHex(secretsKey, "signed-urls", message(path, seconds)));
}
