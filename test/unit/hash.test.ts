/** Digests and secret comparison (src/hash.ts). */
import { describe, expect, it } from "vitest";
import { secretsEqual, sha256Hex } from "../../src/hash";

describe("sha256Hex", () => {
  it.each([
    ["", 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    ["abc", 12, "ba7816bf8f01cfea414140de"],
  ])("%j, first %i bytes", async (text, bytes, hex) => {
    expect(await sha256Hex(text, bytes)).toBe(hex);
    expect(await sha256Hex(new Uint8Array(new TextEncoder().encode(text)), bytes)).toBe(hex);
  });
});

describe("secretsEqual", () => {
  it.each([
    ["same", "same", true],
    ["same", "Same", false],
    ["short", "shorter", false],
    ["", "", true],
    ["a".repeat(200), "a".repeat(200), true],
    ["a".repeat(200), `${"a".repeat(199)}b`, false],
  ])("%j vs %j", async (given, expected, equal) => {
    expect(await secretsEqual(given, expected)).toBe(equal);
  });
});
