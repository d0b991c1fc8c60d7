/**
 * The pure parts of usage in view (src/usage.ts): the warnings `/health`
 * and `GET /v1/usage` give, the projection of when D1 fills, and the daily
 * series. Sizes near D1's 10 GB limit cannot be made in a test database,
 * so the thresholds are tested here.
 */
import { describe, expect, it } from "vitest";
import { D1_LIMIT_BYTES, dailySeries, messagesPerDay, projectFullAt, usageWarnings } from "../../src/usage";

const NOW = Date.UTC(2026, 10, 21, 15, 30);
const GB = 1_000_000_000;

describe("usageWarnings", () => {
  const rows: [name: string, bytes: number, fullAt: string | null, expected: RegExp[]][] = [
    ["an empty database, no projection", 300_000, null, []],
    ["exactly 80 % is not past it", 8 * GB, null, []],
    ["one byte past 80 %", 8 * GB + 1, null, [/^D1 is at 80\.0% of its limit \(8000000001 of 10000000000 bytes\)$/]],
    ["95 %", 9.5 * GB, null, [/^D1 is at 95\.0% of its limit/]],
    ["over the limit", 10 * GB + 5, null, [/^D1 is at 100\.0% of its limit/]],
    ["full in 29 days", 1 * GB, "2026-12-20", [/^D1 is projected to reach its limit of 10000000000 bytes on 2026-12-20 \(in 29 days\)$/]],
    ["full in 30 days is not fewer than 30", 1 * GB, "2026-12-21", []],
    ["full tomorrow", 1 * GB, "2026-11-22", [/on 2026-11-22 \(in 1 day\)$/]],
    ["full today", 1 * GB, "2026-11-21", [/on 2026-11-21 \(in 0 days\)$/]],
    ["full in a year", 1 * GB, "2027-11-21", []],
    ["both", 9 * GB, "2026-11-30", [/^D1 is at 90\.0%/, /on 2026-11-30 \(in 9 days\)$/]],
  ];
  it.each(rows)("%s", (_name, bytes, fullAt, expected) => {
    const warnings = usageWarnings(bytes, D1_LIMIT_BYTES, fullAt, NOW);
    expect(warnings).toHaveLength(expected.length);
    for (const [i, pattern] of expected.entries()) expect(warnings[i]).toMatch(pattern);
  });

  it("says nothing secret: only sizes and dates", () => {
    for (const warning of usageWarnings(9.9 * GB, D1_LIMIT_BYTES, "2026-11-22", NOW)) expect(warning).toMatch(/^[\w %.,()-]+$/);
  });
});

describe("projectFullAt", () => {
  const base = { bytes: 1 * GB, limitBytes: 10 * GB, messages: 1_000_000, perDay: 1_000, retentionDays: 0, now: NOW };
  // 1 GB over a million messages is 1,000 bytes a message.
  const rows: [name: string, changes: Partial<typeof base>, expected: string | null][] = [
    ["no messages: nothing to measure", { messages: 0 }, null],
    ["no messages in the last 7 days: no growth", { perDay: 0 }, null],
    // 9 GB to go at 1 MB a day: 9,000 days.
    ["1 MB a day, kept forever", {}, "2051-07-13"],
    ["9 GB to go at 1 GB a day: 9 days", { perDay: 1_000_000 }, "2026-11-30"],
    ["a part of a day rounds up", { perDay: 1_000_000 * (9 / 8.5) }, "2026-11-30"],
    ["already at the limit: today", { bytes: 10 * GB, messages: 10_000_000 }, "2026-11-21"],
    ["already over: today", { bytes: 11 * GB, messages: 11_000_000 }, "2026-11-21"],
    // Steady state under retention: 1,000 bytes × 1,000 a day × 400 days = 400 MB.
    ["retention holds it at 400 MB", { retentionDays: 400 }, null],
    // 1,000 bytes × 1,000,000 a day × 400 days = 400 GB: retention does not save it.
    ["retention with a steady state over the limit", { perDay: 1_000_000, retentionDays: 400 }, "2026-11-30"],
    // Exactly at the limit: it reaches it.
    ["a steady state exactly at the limit", { perDay: 25_000, retentionDays: 400 }, "2027-11-16"],
    ["beyond year 9999: never, in practice", { perDay: 0.001 }, null],
  ];
  it.each(rows)("%s", (_name, changes, expected) => {
    expect(projectFullAt({ ...base, ...changes })).toBe(expected);
  });
});

describe("dailySeries and messagesPerDay", () => {
  it("has the last 30 UTC days, today last, zeros where nothing went through", () => {
    const series = dailySeries(NOW, [
      { day: "2026-11-21", direction: "in", n: 2 },
      { day: "2026-11-21", direction: "out", n: 1 },
      { day: "2026-10-23", direction: "out", n: 4 },
      // Outside the window (the query does not answer these; they are ignored if it did).
      { day: "2026-10-22", direction: "in", n: 9 },
      { day: "2026-11-22", direction: "in", n: 9 },
    ]);
    expect(series).toHaveLength(30);
    expect(series[0]).toEqual({ date: "2026-10-23", in: 0, out: 4 });
    expect(series[29]).toEqual({ date: "2026-11-21", in: 2, out: 1 });
    expect(series.slice(1, 29).every((d) => d.in === 0 && d.out === 0)).toBe(true);
    expect(new Set(series.map((d) => d.date)).size).toBe(30);
  });

  it("takes the mean over the 7 full days before today", () => {
    const series = dailySeries(NOW, [
      { day: "2026-11-21", direction: "out", n: 700 }, // today: not a full day
      { day: "2026-11-20", direction: "in", n: 5 },
      { day: "2026-11-14", direction: "out", n: 9 },
      { day: "2026-11-13", direction: "in", n: 700 }, // 8 days ago: outside
    ]);
    expect(messagesPerDay(series)).toBe(2);
  });

  it("a day starts at midnight UTC", () => {
    const series = dailySeries(Date.UTC(2026, 10, 21, 0, 0, 0), []);
    expect(series.at(-1)!.date).toBe("2026-11-21");
    expect(dailySeries(Date.UTC(2026, 10, 20, 23, 59, 59, 999), []).at(-1)!.date).toBe("2026-11-20");
  });
});
