/**
 * Prefixed, time-ordered ids (`msg_01JD...`): 48 bits of milliseconds then
 * 80 random bits, in Crockford base32 as in ULID. Sorting ids sorts by
 * creation time, which is what list pagination relies on.
 */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

export type IdPrefix = "als" | "thr" | "msg" | "dlv" | "rly" | "inc" | "key" | "evh";

function encode(prefix: IdPrefix, time: number, tailBytes: Uint8Array): string {
  let head = "";
  for (let i = 0, t = time; i < 10; i++, t = Math.floor(t / 32)) head = ALPHABET[t % 32] + head;
  let tail = "";
  for (const byte of tailBytes.subarray(0, 16)) tail += ALPHABET[byte % 32];
  return `${prefix}_${head}${tail}`;
}

/**
 * A fresh id for a new row. Callers pass the event's time (the Worker's
 * clock), so ids, and the pages that sort by them, follow the time the
 * Worker saw, in tests too.
 */
export function newId(prefix: IdPrefix, now = Date.now()): string {
  return encode(prefix, now, crypto.getRandomValues(new Uint8Array(16)));
}

/**
 * The same id every time for the same seed: work a queue may run twice
 * (at least once delivery) writes the same rows again instead of new ones.
 */
export async function derivedId(prefix: IdPrefix, time: number, seed: string): Promise<string> {
  return encode(prefix, time, new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(seed))));
}
