/**
 * Posts one outbound event to a customer's event hook (`POST /v1/event-hooks`),
 * signed like inbound webhooks. (Being written: see issue 9.)
 */
import type { Db } from "../db/client";
import type { Env } from "../env";
import type { DeliveryRow, Handled } from "./types";

/** Delivers an event hook's delivery: the outbound event it names, to the hook's URL. */
export async function postEventHook(_env: Env, _db: Db, _delivery: DeliveryRow, _now: number): Promise<Handled> {
  return { outcome: { result: "failed", statusCode: null, error: "event hooks are not delivered yet" } };
}
