/**
 * Reading providers' JSON defensively, shared by the readers: a field of
 * the wrong type reads as absent, ids and addresses must be one printable
 * token, and the answers are the hook contract's values.
 */
import type { HookReading, Verification } from "../types";

export type Json = Record<string, unknown>;

/** A verification that failed, saying why. */
export function refused(reason: string): Verification {
  return { ok: false, reason };
}

/** A body that cannot be read as this provider's events. */
export function invalid(reason: string): Extract<HookReading, { kind: "invalid" }> {
  return { kind: "invalid", reason };
}

/** A body with nothing to apply (a type we do not act on). */
export function ignored(why: string): Extract<HookReading, { kind: "ignored" }> {
  return { kind: "ignored", why };
}

/** JSON text, or undefined when it is not JSON (never throws). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A JSON object (not null, not an array). */
export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A descriptive sub-object; one of another type reads as absent. */
export function objectAt(parent: Json, key: string): Json {
  const value = parent[key];
  return isObject(value) ? value : {};
}

/** A non-empty string field, trimmed; anything else reads as absent. */
export function stringAt(parent: Json, key: string): string | null {
  const value = parent[key];
  return typeof value === "string" && value.trim() ? value.trim() : null;
}

/** One printable token, not too long: no whitespace or control characters (an id or address that would forge a log line or a lookup). */
export function isToken(value: string, max: number): boolean {
  return value.length > 0 && value.length <= max && !/[\s\p{Cc}]/u.test(value);
}
