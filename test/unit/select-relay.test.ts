/**
 * Relay choice (src/outbound/select-relay.ts) against Odoo's
 * `_match_from_filter` and `_find_mail_server` (shared/reference/odoo-gateway.md
 * 4.3, 4.4), with the servers of Odoo's own tests (`_init_mail_servers`).
 */
import { describe, expect, it } from "vitest";
import { failoverRelays, findRelay, matchFromFilter, relaysForStream } from "../../src/outbound/select-relay";

type Candidate = Parameters<typeof relaysForStream>[0][number];
type Stream = Parameters<typeof relaysForStream>[1];

const relay = (id: string, fromFilter: string | null, overrides: Partial<Candidate> = {}): Candidate => ({
  id,
  fromFilter,
  sequence: 10,
  stream: "transactional",
  fixedSender: null,
  ...overrides,
});

describe("matchFromFilter", () => {
  const rows: [name: string, from: string, filter: string | null, expected: boolean][] = [
    ["no filter allows anything", "anyone@anywhere.test", null, true],
    ["an empty filter allows anything", "anyone@anywhere.test", "", true],
    ["no filter allows even a non-address", "not an address", null, true],
    ["exact address", "notifications@example.com", "notifications@example.com", true],
    ["exact address, any case on either side", "Notifications@EXAMPLE.com", "NOTIFICATIONS@example.COM", true],
    ["another address of the same domain", "admin@example.com", "notifications@example.com", false],
    ["domain", "admin@example.com", "example.com", true],
    ["domain, any case", "admin@Example.COM", "EXAMPLE.com", true],
    ["a subdomain does not match its parent", "admin@mail.example.com", "example.com", false],
    ["the parent does not match a subdomain filter", "admin@example.com", "mail.example.com", false],
    ["no wildcards", "admin@mail.example.com", "*.example.com", false],
    ["comma list: the domain part", "admin@example.com", "other.org, example.com", true],
    ["comma list: the address part", "boss@other.org", "example.com,boss@other.org", true],
    ["comma list: spaces and empty parts ignored", "admin@example.com", " , other.org ,, example.com ,", true],
    ["comma list: no part matches", "admin@third.net", "example.com, boss@other.org", false],
    ["not an address, with a filter", "not an address", "example.com", false],
    ["an empty From, with a filter", "", "example.com", false],
    // Callers pass bare addresses (see the module); a display name is not parsed away here.
    ["a formatted From (display name) is not read", '"Admin" <admin@example.com>', "example.com", false],
    ["IDN From against a punycode filter (filters are stored canonical)", "admin@éxample.com", "xn--xample-9ua.com", true],
    ["IDN From against a Unicode filter", "admin@éxample.com", "éxample.com", false],
    ["a non-ASCII local part is case-folded (Odoo keeps its case)", "Ünïcode@example.com", "ünïcode@example.com", true],
  ];
  it.each(rows)("%s", (_name, from, filter, expected) => {
    expect(matchFromFilter(from, filter)).toBe(expected);
  });
});

// Odoo's test servers, in search order (same sequence, by id): the domain server comes first.
const SERVERS = [
  relay("domain", "test.mycompany.com"),
  relay("user", "specific_user@test.mycompany.com"),
  relay("notifications", "notifications.test@test.mycompany.com"),
  relay("multi", "test2.mycompany.com, specific_user@test3.mycompany.com"),
  relay("no_filter", null),
];
const NOTIFICATIONS = "notifications.test@test.mycompany.com";

describe("findRelay", () => {
  const rows: { name: string; relays?: Candidate[]; from: string; notifications?: string | null; expected: { relay: string; smtpFrom: string; step: string } | null }[] = [
    {
      name: "exact address, across all relays before any domain",
      from: "specific_user@test.mycompany.com",
      expected: { relay: "user", smtpFrom: "specific_user@test.mycompany.com", step: "address" },
    },
    {
      name: "exact address in another case: the From is kept as written",
      from: "Specific_User@Test.MyCompany.com",
      expected: { relay: "user", smtpFrom: "Specific_User@Test.MyCompany.com", step: "address" },
    },
    { name: "domain", from: "unknown_name@test.mycompany.com", expected: { relay: "domain", smtpFrom: "unknown_name@test.mycompany.com", step: "domain" } },
    { name: "the notifications address itself", from: NOTIFICATIONS, expected: { relay: "notifications", smtpFrom: NOTIFICATIONS, step: "address" } },
    { name: "domain from a comma list", from: "someone@test2.mycompany.com", expected: { relay: "multi", smtpFrom: "someone@test2.mycompany.com", step: "domain" } },
    { name: "address from a comma list", from: "specific_user@test3.mycompany.com", expected: { relay: "multi", smtpFrom: "specific_user@test3.mycompany.com", step: "address" } },
    {
      name: "a list's address does not open its domain",
      from: "other@test3.mycompany.com",
      expected: { relay: "notifications", smtpFrom: NOTIFICATIONS, step: "notifications_address" },
    },
    {
      name: "unknown domain: the notifications address's relay",
      from: "test@unknown_domain.com",
      expected: { relay: "notifications", smtpFrom: NOTIFICATIONS, step: "notifications_address" },
    },
    {
      name: "unknown domain: the notifications domain's relay",
      relays: SERVERS.filter((r) => r.id !== "notifications"),
      from: "test@unknown_domain.com",
      expected: { relay: "domain", smtpFrom: NOTIFICATIONS, step: "notifications_domain" },
    },
    {
      name: "notifications address given in another case: normalized",
      relays: SERVERS.filter((r) => r.id !== "notifications"),
      from: "test@unknown_domain.com",
      notifications: "Notifications.Test@Test.MyCompany.com",
      expected: { relay: "domain", smtpFrom: NOTIFICATIONS, step: "notifications_domain" },
    },
    {
      name: "no notifications address: the relay without filter, From kept",
      from: "test@unknown_domain.com",
      notifications: null,
      expected: { relay: "no_filter", smtpFrom: "test@unknown_domain.com", step: "no_filter" },
    },
    {
      name: "notifications on a domain no relay serves: the relay without filter",
      from: "test@unknown_domain.com",
      notifications: "noreply@nowhere.test",
      expected: { relay: "no_filter", smtpFrom: "noreply@nowhere.test", step: "no_filter" },
    },
    {
      name: "nothing matches and every relay has a filter: the first relay",
      relays: SERVERS.filter((r) => r.id !== "no_filter"),
      from: "test@unknown_domain.com",
      notifications: "noreply@nowhere.test",
      expected: { relay: "domain", smtpFrom: "noreply@nowhere.test", step: "first" },
    },
    {
      name: "nothing matches, no notifications, no unfiltered relay: first, From kept",
      relays: SERVERS.slice(0, 2),
      from: "x@nowhere.test",
      notifications: null,
      expected: { relay: "domain", smtpFrom: "x@nowhere.test", step: "first" },
    },
    { name: "an invalid From skips the author steps", from: "not an address", expected: { relay: "notifications", smtpFrom: NOTIFICATIONS, step: "notifications_address" } },
    {
      name: "a From with a display name is not read as an address",
      from: '"Specific" <specific_user@test.mycompany.com>',
      expected: { relay: "notifications", smtpFrom: NOTIFICATIONS, step: "notifications_address" },
    },
    {
      name: "relays are taken in the order given: the first of two equal matches",
      relays: [relay("b", "example.com"), relay("a", "example.com")],
      from: "x@example.com",
      expected: { relay: "b", smtpFrom: "x@example.com", step: "domain" },
    },
    {
      name: "a relay without filter only comes after all the filter steps",
      relays: [relay("open", null), relay("dom", "example.com")],
      from: "x@example.com",
      expected: { relay: "dom", smtpFrom: "x@example.com", step: "domain" },
    },
    {
      name: "a lone unfiltered relay takes everything",
      relays: [relay("open", null)],
      from: "x@example.com",
      notifications: null,
      expected: { relay: "open", smtpFrom: "x@example.com", step: "no_filter" },
    },
    { name: "no relay at all", relays: [], from: "x@example.com", expected: null },
  ];
  it.each(rows)("$name", (row) => {
    const choice = findRelay(row.relays ?? SERVERS, row.from, row.notifications === undefined ? NOTIFICATIONS : row.notifications);
    expect(choice && { relay: choice.relay.id, smtpFrom: choice.smtpFrom, step: choice.step }).toEqual(row.expected);
  });
});

describe("relaysForStream", () => {
  const t = (id: string, sequence: number) => relay(id, null, { sequence });
  const m = (id: string, sequence: number) => relay(id, null, { sequence, stream: "mass" });
  const rows: [name: string, relays: Candidate[], stream: Stream, expected: string[]][] = [
    ["transactional: its own relays by sequence", [t("t20", 20), m("m10", 10), t("t5", 5)], "transactional", ["t5", "t20"]],
    ["mass: the mass relays when there are any", [t("t20", 20), m("m10", 10), t("t5", 5), m("m1", 1)], "mass", ["m1", "m10"]],
    ["mass with no mass relay: every relay", [t("t20", 20), t("t5", 5)], "mass", ["t5", "t20"]],
    ["transactional with only mass relays: every relay", [m("m20", 20), m("m10", 10)], "transactional", ["m10", "m20"]],
    ["equal sequences keep their order", [t("b", 10), t("a", 10), t("c", 1)], "transactional", ["c", "b", "a"]],
    ["no relays", [], "transactional", []],
  ];
  it.each(rows)("%s", (_name, relays, stream, expected) => {
    expect(relaysForStream(relays, stream).map((r) => r.id)).toEqual(expected);
  });

  it("then findRelay: the lower sequence wins between equal matches", () => {
    const relays = [relay("late", "example.com", { sequence: 20 }), relay("early", "example.com", { sequence: 10 })];
    expect(findRelay(relaysForStream(relays, "transactional"), "x@example.com", null)?.relay.id).toBe("early");
  });
});

describe("failoverRelays", () => {
  const RELAYS = [
    relay("chosen", "example.com"),
    relay("same-domain", "example.com"),
    relay("other-domain", "other.org"),
    relay("open", null),
    relay("fixed-other", null, { fixedSender: "account@example.com" }),
    relay("fixed-same", null, { fixedSender: "Admin@Example.com" }),
    relay("address", "admin@example.com, other.org"),
  ];
  const rows: [name: string, from: string, expected: string[]][] = [
    ["the others that may send as the From, in order, never the chosen one", "admin@example.com", ["same-domain", "open", "fixed-same", "address"]],
    ["another author of the domain", "boss@example.com", ["same-domain", "open"]],
    ["the notifications address of another domain", "noreply@other.org", ["other-domain", "open", "address"]],
    ["an author no filter names: only unfiltered relays", "x@nowhere.test", ["open"]],
  ];
  it.each(rows)("%s", (_name, from, expected) => {
    expect(failoverRelays(RELAYS, "chosen", from).map((r) => r.id)).toEqual(expected);
  });
});
