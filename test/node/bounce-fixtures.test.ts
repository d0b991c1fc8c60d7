/**
 * The bounce reader on bounces it was not tuned on: test/fixtures/bounces/,
 * messages written the way real MTAs write them (Exim, Sendmail, Postfix,
 * Courier, qmail, Domino, GroupWise, IMail, Exchange, and people who forward
 * bounces), each with its expected reading in the JSON file of the same
 * name. They cover the kinds of bounce the reader misread on unseen mail
 * (see each file's `class`), plus human mail, a success DSN and an
 * auto-reply that must not read as a failure. `npm run corpus` prints the
 * agreement per class; every expectation is asserted.
 *
 * A fixture's JSON: `kind` (null for human mail), `recipients` in report
 * order, each with `recipient` and, when given, `action`, `status` (null:
 * none to read) and `hard`; `originalMessageIds` when given must be exactly
 * what the reader finds.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type BounceReport, type ReportedAction, type ReportKind, readBounceReport } from "../../src/inbound/bounce-report";

const fixtures = fileURLToPath(new URL("../fixtures/bounces/", import.meta.url));

interface ExpectedRecipient {
  recipient: string;
  action?: ReportedAction | null;
  status?: string | null;
  hard?: boolean;
}

interface Expected {
  what: string;
  class: string;
  kind: ReportKind | null;
  recipients: ExpectedRecipient[];
  originalMessageIds?: string[];
}

interface Fixture {
  name: string;
  expected: Expected;
  report: BounceReport;
}

interface Tally {
  files: number;
  kind: number;
  recipientRows: number;
  recipients: number;
  statusRows: number;
  statuses: number;
}

function fixtureNames(): string[] {
  return readdirSync(fixtures)
    .filter((name) => name.endsWith(".eml"))
    .map((name) => name.slice(0, -".eml".length))
    .sort();
}

/** What differs between the expectation and the reading, in words; empty when they agree. */
function differences({ expected, report }: Fixture): string[] {
  const problems: string[] = [];
  if (report.kind !== expected.kind) problems.push(`kind ${report.kind} (want ${expected.kind})`);
  const got = report.recipients.map((r) => r.recipient);
  const want = expected.recipients.map((r) => r.recipient);
  if (got.join(" ") !== want.join(" ")) problems.push(`recipients [${got.join(", ")}] (want [${want.join(", ")}])`);
  for (const wanted of expected.recipients) {
    const ours = report.recipients.find((r) => r.recipient === wanted.recipient);
    if (!ours) continue;
    for (const field of ["action", "status", "hard"] as const) {
      if (wanted[field] !== undefined && ours[field] !== wanted[field]) problems.push(`${wanted.recipient} ${field} ${ours[field]} (want ${wanted[field]})`);
    }
  }
  if (expected.originalMessageIds && report.originalMessageIds.join(" ") !== expected.originalMessageIds.join(" ")) {
    problems.push(`originalMessageIds [${report.originalMessageIds.join(", ")}] (want [${expected.originalMessageIds.join(", ")}])`);
  }
  return problems;
}

function tally(fixtures: Fixture[]): Tally {
  const counts: Tally = { files: 0, kind: 0, recipientRows: 0, recipients: 0, statusRows: 0, statuses: 0 };
  for (const { expected, report } of fixtures) {
    counts.files++;
    if (report.kind === expected.kind) counts.kind++;
    for (const wanted of expected.recipients) {
      const ours = report.recipients.find((r) => r.recipient === wanted.recipient);
      counts.recipientRows++;
      if (ours) counts.recipients++;
      if (wanted.status !== undefined) {
        counts.statusRows++;
        if (ours?.status === wanted.status) counts.statuses++;
      }
    }
    // A recipient read that the fixture does not name is a miss too (the sender taken for a recipient).
    counts.recipientRows += report.recipients.filter((r) => !expected.recipients.some((w) => w.recipient === r.recipient)).length;
  }
  return counts;
}

function share(agree: number, total: number): string {
  return `${String(agree).padStart(3)} / ${String(total).padEnd(3)} ${(total ? `${((100 * agree) / total).toFixed(1)} %` : "n/a").padStart(8)}`;
}

describe("bounce reader on the fixtures of real MTA formats", () => {
  it("reads every fixture as expected", async () => {
    const read: Fixture[] = [];
    for (const name of fixtureNames()) {
      const expected = JSON.parse(readFileSync(`${fixtures}${name}.json`, "utf8")) as Expected;
      read.push({ name, expected, report: await readBounceReport(new Uint8Array(readFileSync(`${fixtures}${name}.eml`))) });
    }
    const classes = [...new Set(read.map((f) => f.expected.class))].sort();
    const rows = [...classes.map((name) => [name, tally(read.filter((f) => f.expected.class === name))] as const), ["all", tally(read)] as const];
    const wrong = read.map((f) => [f.name, differences(f)] as const).filter(([, problems]) => problems.length);
    console.log(
      [
        `bounce fixtures: ${read.length} messages in ${classes.length} classes (test/fixtures/bounces/)`,
        `${"class".padEnd(28)} ${"kind".padEnd(16)}   ${"recipient".padEnd(16)}   status`,
        ...rows.map(([name, t]) => `${name.padEnd(28)} ${share(t.kind, t.files)}   ${share(t.recipients, t.recipientRows)}   ${share(t.statuses, t.statusRows)}`),
        "",
        `disagreements (${wrong.length}):`,
        ...wrong.map(([name, problems]) => `  ${name}: ${problems.join("; ")}`),
      ].join("\n"),
    );
    expect(wrong).toEqual([]);
  });
});
