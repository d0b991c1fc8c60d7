/**
 * Sender loop counters in KV, for Odoo's `_detect_loop_sender` rule: a
 * sender may put at most `loop_threshold` messages into one target (a route
 * key: an alias opening threads, or a thread) within `loop_minutes`.
 *
 * One key per sender, `loop:<sender>`, holds the (route key, time) of each
 * message the sender got accepted within the window; its TTL is the window,
 * so a quiet sender's key disappears. Each message costs one `get` and, when
 * accepted, one `put`.
 *
 * KV's rules, and how the design lives with them:
 * - A write is visible at once to reads in the same Cloudflare location
 *   (other locations may see it up to 60 s later). A sender's MTA reaches
 *   the nearest location, so the messages of a burst read each other's
 *   writes and the one over the threshold is refused.
 * - One write per second per key: a concurrent message of the same sender
 *   gets `429` on its write. That 429 is our compare-and-set: we wait, read
 *   again (now with the other message's entry), decide again and write
 *   again, so two messages of a burst are never both counted from the same
 *   stale value. If KV still refuses after a few tries, the handler throws
 *   and the sender's server retries later, which also slows the burst.
 * - TTL at least 60 s: the TTL is `max(60, loop_minutes * 60)`.
 *
 * Entries carry a tag of the delivery (Message-ID and recipient), and a
 * write first removes entries with its own tag, so the sender retrying a
 * delivery we failed is not counted twice.
 */
import type { Route } from "./route";

/** Entries kept per sender; the oldest go first. */
const MAX_ENTRIES = 1000;

/** [route key, accepted at (ms), delivery tag] */
type LoopEntry = [string, number, string];

interface LoopValue {
  e: LoopEntry[];
}

export interface LoopState {
  entries: LoopEntry[];
}

function keyFor(sender: string): string {
  return `loop:${sender}`;
}

export async function readLoopState(kv: KVNamespace, sender: string): Promise<LoopState> {
  const value = await kv.get<LoopValue>(keyFor(sender), "json");
  return { entries: Array.isArray(value?.e) ? value.e : [] };
}

/** Messages per route key within the window. */
export function countLoops(state: LoopState, windowMinutes: number, now: number): Record<string, number> {
  const since = now - windowMinutes * 60_000;
  const counts: Record<string, number> = {};
  for (const [route, at] of state.entries) if (at >= since) counts[route] = (counts[route] ?? 0) + 1;
  return counts;
}

/** FNV-1a, 32 bits: a short tag, not a security measure. */
function deliveryTag(messageId: string, rcptTo: string): string {
  let hash = 0x811c9dc5;
  for (const char of `${messageId}\n${rcptTo}`) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return hash.toString(36);
}

export async function writeLoopEntry(
  kv: KVNamespace,
  sender: string,
  state: LoopState,
  delivery: { messageId: string; rcptTo: string },
  routes: Route[],
  windowMinutes: number,
  now: number,
): Promise<void> {
  const since = now - windowMinutes * 60_000;
  const tag = deliveryTag(delivery.messageId, delivery.rcptTo);
  const entries = state.entries.filter(([, at, t]) => at >= since && t !== tag);
  for (const route of routes) entries.push([route.route_key, now, tag]);
  const value: LoopValue = { e: entries.slice(-MAX_ENTRIES) };
  await kv.put(keyFor(sender), JSON.stringify(value), { expirationTtl: Math.max(60, windowMinutes * 60) });
}

/** KV answers a second write to a key within a second with 429. */
export function isKvRateLimited(error: unknown): boolean {
  return error instanceof Error && /\b429\b|too many requests/i.test(error.message);
}
