/**
 * The unsubscribe token, address and header fields (src/unsubscribe.ts),
 * in plain Node: a token names one recipient of one message, fits a local
 * part, survives a change of case, and nothing else verifies.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { verpToken } from "../../src/mail/verp";
import { listUnsubscribeHeaders, UNSUBSCRIBE_LOCAL_PART, unsubscribeMessageOf, unsubscribeToken, unsubscribeTokenOf, verifyUnsubscribeToken } from "../../src/unsubscribe";

const KEY = "unit-secrets-key";
const MESSAGE = "msg_01KA2B3C4D5E6F7G8H9J0KMNPQ";
const OTHER_MESSAGE = "msg_01KA2B3C4D5E6F7G8H9J0KMNPR";
const ANN = "ann@example.org";
const BOB = "bob@example.org";

const token = await unsubscribeToken(KEY, MESSAGE, ANN);
const [id, signature] = token.split("-") as [string, string];
const flip = (c: string) => (c === "0" ? "1" : "0");

describe("unsubscribeToken", () => {
  it("is the lowercased message id and 20 hex digits, and fits a local part with `unsubscribe+`", () => {
    expect(token).toMatch(/^[0-9a-z]{26}-[0-9a-f]{20}$/);
    expect(id).toBe(MESSAGE.slice(4).toLowerCase());
    expect(`${UNSUBSCRIBE_LOCAL_PART}+${token}`.length).toBeLessThanOrEqual(64);
  });

  it("differs per recipient, per message and per key, and is the same when made again", async () => {
    expect(await unsubscribeToken(KEY, MESSAGE, ANN)).toBe(token);
    expect(await unsubscribeToken(KEY, MESSAGE, BOB)).not.toBe(token);
    expect((await unsubscribeToken(KEY, OTHER_MESSAGE, ANN)).split("-")[1]).not.toBe(signature);
    expect(await unsubscribeToken("another-key", MESSAGE, ANN)).not.toBe(token);
  });
});

describe("verifyUnsubscribeToken", () => {
  const rows: [string, () => Promise<string> | string, string[], string | null][] = [
    ["its recipient", () => token, [ANN], ANN],
    ["its recipient among the message's others", () => token, [BOB, ANN], ANN],
    ["uppercased on the way (a mail system changed the case)", () => token.toUpperCase(), [ANN], ANN],
    ["another recipient of the same message", () => token, [BOB], null],
    ["a message with no recipients", () => token, [], null],
    ["one signature digit changed", () => `${id}-${signature.slice(0, -1)}${flip(signature.at(-1)!)}`, [ANN], null],
    ["another message's id with this signature", () => `${OTHER_MESSAGE.slice(4).toLowerCase()}-${signature}`, [ANN], null],
    ["made under another SECRETS_KEY", () => unsubscribeToken("another-key", MESSAGE, ANN), [ANN], null],
    ["the message's VERP token (signs the id alone)", () => verpToken(KEY, MESSAGE), [ANN], null],
    ["the VERP signature padded to length", async () => `${await verpToken(KEY, MESSAGE)}0000000000`, [ANN], null],
    ["with the msg_ prefix", () => `msg_${token}`, [ANN], null],
    ["a shorter signature", () => token.slice(0, -1), [ANN], null],
    ["something after it", () => `${token}x`, [ANN], null],
    ["a path around it", () => `../${token}`, [ANN], null],
    ["empty", () => "", [ANN], null],
  ];
  it.each(rows)("%s", async (_name, make, recipients, expected) => {
    expect(await verifyUnsubscribeToken(KEY, await make(), recipients)).toBe(expected);
  });
});

describe("unsubscribeMessageOf", () => {
  it.each([
    ["a token", token, MESSAGE],
    ["an uppercased token", token.toUpperCase(), MESSAGE],
    ["a forged token of the right form (the signature is checked after the lookup)", `${id}-${"0".repeat(20)}`, MESSAGE],
    ["a VERP token", "01ka2b3c4d5e6f7g8h9j0kmnpq-0123456789", null],
    ["garbage", "not-a-token", null],
  ])("%s", (_name, given, expected) => {
    expect(unsubscribeMessageOf(given)).toBe(expected);
  });
});

describe("unsubscribeTokenOf (the envelope recipient of mail to email())", () => {
  const domains = [
    { name: "news.example", bounce: "bounce" },
    { name: "odd.example", bounce: "unsubscribe" },
  ];
  it.each([
    ["our unsubscribe address", `unsubscribe+${token}@news.example`, token],
    ["the token as given, whatever it holds (verified later)", "unsubscribe+anything@news.example", "anything"],
    ["on a domain we do not serve", `unsubscribe+${token}@elsewhere.example`, null],
    ["the bare local part", "unsubscribe@news.example", null],
    ["the VERP bounce address", `bounce+${token}@news.example`, null],
    ["a domain whose bounce address is unsubscribe@ (its VERP bounces)", `unsubscribe+${token}@odd.example`, null],
    ["a longer local part that starts the same", `unsubscribed+${token}@news.example`, null],
  ])("%s", (_name, address, expected) => {
    expect(unsubscribeTokenOf(address, domains)).toBe(expected);
  });
});

describe("listUnsubscribeHeaders", () => {
  const domain = { name: "news.example", bounce: "bounce" };
  const link = `https://mail.example.com/unsubscribe/${token}`;
  const mailto = `mailto:unsubscribe+${token}@news.example`;
  it.each([
    [
      "PUBLIC_URL and a domain: the link first (preferred), the mailto second, and one-click",
      { publicUrl: "https://mail.example.com", domain },
      { "List-Unsubscribe": `<${link}>, <${mailto}>`, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
    ],
    [
      "a trailing slash on PUBLIC_URL",
      { publicUrl: "https://mail.example.com/", domain },
      { "List-Unsubscribe": `<${link}>, <${mailto}>`, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
    ],
    ["no PUBLIC_URL: the mailto form only, and no one-click (an HTTPS POST)", { publicUrl: undefined, domain }, { "List-Unsubscribe": `<${mailto}>` }],
    [
      "an http PUBLIC_URL (local development): the link, but no one-click (RFC 8058 wants HTTPS)",
      { publicUrl: "http://127.0.0.1:8787", domain },
      { "List-Unsubscribe": `<http://127.0.0.1:8787/unsubscribe/${token}>, <${mailto}>` },
    ],
    [
      "no domain that takes our mail: the link only",
      { publicUrl: "https://mail.example.com", domain: null },
      { "List-Unsubscribe": `<${link}>`, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
    ],
    [
      "a domain whose bounce address is unsubscribe@: the link only",
      { publicUrl: "https://mail.example.com", domain: { name: "odd.example", bounce: "unsubscribe" } },
      { "List-Unsubscribe": `<${link}>`, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
    ],
    ["neither: nothing", { publicUrl: "", domain: null }, {}],
  ])("%s", (_name, input, expected) => {
    expect(listUnsubscribeHeaders({ ...input, token })).toEqual(expected);
  });

  it("never puts white space inside the angle brackets (RFC 2369 2), so folding can only happen after the comma", () => {
    const value = listUnsubscribeHeaders({ publicUrl: "https://mail.example.com", domain, token })["List-Unsubscribe"]!;
    for (const uri of value.match(/<[^>]*>/g)!) expect(uri).not.toMatch(/\s/);
    expect(value.replace(/<[^>]*>/g, "")).toBe(", ");
  });
});

describe("purity", () => {
  it("imports no binding, database client or Worker environment (it loads here, in plain Node)", () => {
    const source = readFileSync(fileURLToPath(new URL("../../src/unsubscribe.ts", import.meta.url)), "utf8");
    expect(source).not.toMatch(/from "cloudflare:|from "[./]*(?:env|db\/client)"|from "drizzle-orm"/);
  });
});
