/** Alias rules (src/aliases/rules.ts): Odoo's name sanitising and what makes an alias valid. */
import { describe, expect, it } from "vitest";
import { type AliasDraft, type AliasFacts, aliasProblemText, checkAlias, isMalformed, sanitizeAliasName, splitDestinations } from "../../src/aliases/rules";

describe("sanitizeAliasName (Odoo's _sanitize_alias_name)", () => {
  const rows: [input: string, output: string][] = [
    ["sales", "sales"],
    ["  Sales  ", "sales"],
    ["Équipe Ventes", "equipe-ventes"],
    ["jürgen.müller", "jurgen.muller"],
    ["info@example.com", "info"],
    ["..dots..", "dots"],
    ["a..b", "a.b"],
    ["semi;colon,comma", "semi-colon-comma"],
    ["plus+tag", "plus+tag"],
    ["日本", "-"],
  ];
  it.each(rows)("%j → %j", (input, output) => {
    expect(sanitizeAliasName(input)).toBe(output);
  });
});

describe("checkAlias", () => {
  const facts: AliasFacts = { domains: [{ name: "example.com", catchall: "catchall", bounce: "bounce" }], threadExists: true, allowPrivateWebhooks: false };
  const draft = (overrides: Partial<AliasDraft>): AliasDraft => ({
    name: "sales",
    domain: "example.com",
    destinations: [{ type: "store" }],
    localPartOnly: false,
    threadId: null,
    ...overrides,
  });
  const rows: { name: string; draft: AliasDraft; facts?: Partial<AliasFacts>; expected: { address: string } | { reason: string; malformed: boolean } }[] = [
    { name: "a plain alias", draft: draft({}), expected: { address: "sales@example.com" } },
    { name: "the name sanitised", draft: draft({ name: "Équipe" }), expected: { address: "equipe@example.com" } },
    { name: "no domain, local part only", draft: draft({ domain: null, localPartOnly: true }), expected: { address: "sales" } },
    { name: "no domain without local-part matching", draft: draft({ domain: null }), expected: { reason: "no_domain_without_local_part", malformed: true } },
    { name: "a name that makes no local part", draft: draft({ name: "..." }), expected: { reason: "invalid_name", malformed: true } },
    { name: "a domain we do not serve", draft: draft({ domain: "other.org" }), expected: { reason: "unknown_domain", malformed: false } },
    { name: "the catchall address", draft: draft({ name: "Catchall" }), expected: { reason: "reserved_address", malformed: false } },
    { name: "the bounce address", draft: draft({ name: "bounce" }), expected: { reason: "reserved_address", malformed: false } },
    { name: "a forward into our own domain", draft: draft({ destinations: [{ type: "forward", to: "x@example.com" }] }), expected: { reason: "forward_loop", malformed: false } },
    { name: "a forward elsewhere", draft: draft({ destinations: [{ type: "forward", to: "x@other.org" }] }), expected: { address: "sales@example.com" } },
    {
      name: "a webhook to a private address",
      draft: draft({ destinations: [{ type: "webhook", url: "https://10.0.0.1/hook" }] }),
      expected: { reason: "webhook_url", malformed: true },
    },
    {
      name: "a webhook to loopback, allowed locally",
      draft: draft({ destinations: [{ type: "webhook", url: "http://127.0.0.1:8080/hook" }] }),
      facts: { allowPrivateWebhooks: true },
      expected: { address: "sales@example.com" },
    },
    { name: "a pinned thread that does not exist", draft: draft({ threadId: "thr_x" }), facts: { threadExists: false }, expected: { reason: "unknown_thread", malformed: false } },
  ];
  it.each(rows)("$name", ({ draft, facts: more, expected }) => {
    const checked = checkAlias(draft, { ...facts, ...more });
    if ("address" in expected) expect(checked).toMatchObject({ ok: true, address: expected.address });
    else {
      expect(checked).toMatchObject({ ok: false, problem: { reason: expected.reason } });
      if (!checked.ok) {
        expect(isMalformed(checked.problem)).toBe(expected.malformed);
        expect(aliasProblemText(checked.problem)).not.toBe("");
      }
    }
  });
});

describe("splitDestinations", () => {
  it("keeps each destination once, and the secret apart", () => {
    const split = splitDestinations([{ type: "store" }, { type: "webhook", url: "https://h.example/a", secret: "s".repeat(24) }, { type: "store" }]);
    expect(split).toEqual({ ok: true, destinations: [{ type: "store" }, { type: "webhook", url: "https://h.example/a" }], secret: "s".repeat(24) });
  });
  it("refuses two different secrets", () => {
    const split = splitDestinations([
      { type: "webhook", url: "https://h.example/a", secret: "a".repeat(24) },
      { type: "webhook", url: "https://h.example/b", secret: "b".repeat(24) },
    ]);
    expect(split).toEqual({ ok: false, problem: { reason: "two_webhook_secrets" } });
  });
});
