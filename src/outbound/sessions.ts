/**
 * Open relay sessions, shared by the messages of one queue batch: one per
 * relay and EHLO name (the relay's configured name, else the message's
 * From domain), so a batch to one SMTP relay uses one connection. A
 * session that failed is forgotten, so the next message opens a new one.
 */
import type { Env } from "../env";
import { instantiate, type RelayContext } from "./relays";
import type { RelayRow } from "./relays/settings";
import type { RelaySession } from "./relays/types";

export interface SessionPool {
  open(relay: RelayRow): Promise<RelaySession>;
  /** Forgets a session that failed. */
  drop(relay: RelayRow): void;
}

export interface Sessions {
  /** The pool for messages sent with this EHLO name. */
  forHelo(helo: string): SessionPool;
  /** Closes every session opened (errors ignored: the work is done). */
  closeAll(): Promise<void>;
}

/**
 * One pool per queue batch (dispatch.ts): sessions are keyed by relay and
 * EHLO name, and closed together when the batch is done. `context` reaches
 * the relays that need it (OAuth tokens for SMTP relays).
 */
export function openSessions(env: Env, context: RelayContext): Sessions {
  const sessions = new Map<string, Promise<RelaySession>>();
  const keyOf = (relay: RelayRow, helo: string) => `${relay.id} ${helo}`;
  return {
    forHelo: (helo) => ({
      open(relay) {
        let session = sessions.get(keyOf(relay, helo));
        if (!session) {
          session = instantiate(relay, env, helo, context).then((r) => r.open());
          sessions.set(keyOf(relay, helo), session);
        }
        return session;
      },
      drop(relay) {
        const session = sessions.get(keyOf(relay, helo));
        sessions.delete(keyOf(relay, helo));
        // Its connection is closed now, not left open until the Worker's invocation ends.
        session?.then((s) => s.close()).catch(() => {});
      },
    }),
    async closeAll() {
      for (const session of sessions.values()) await session.then((s) => s.close()).catch(() => {});
    },
  };
}
