/**
 * Prefixed, time-ordered ids (`msg_01JD...`): 48 bits of milliseconds then
 * 80 random bits, in Crockford base32 as in ULID. Sorting ids sorts by
 * creation time, which is what list pagination relies on.
 */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

export type IdPrefix = "als" | "thr" | "msg" | "dlv" | "rly" | "key";

export function newId(prefix: IdPrefix, now = Date.now()): string {
  let time = "";
  for (let i = 0, t = now; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
  const random = crypto.getRandomValues(new Uint8Array(16));
  let tail = "";
  for (const byte of random) tail += ALPHABET[byte % 32];
  return `${prefix}_${time}${tail}`;
}
