/**
 * Text bounces: the human-readable report of MTAs that send no RFC 3464 part
 * (qmail, Exim, old Sendmail and Postfix, Exchange 2003, Notes, Gmail,
 * Yahoo, ...), and the text part of those that do. Reads which recipients
 * the text names and, for each, the SMTP reply or the words that say why,
 * with the line patterns of text-patterns.ts. Not a reader of its own: the
 * delivery-report reader (dsn.ts) decides whether the message is a bounce
 * at all (evidence.ts) and merges these findings with the DSN fields.
 */
import { canonical } from "./addresses";
import type { Evidence } from "./evidence";
import { clip, linesOf } from "./fields";
import { MAX_BLOCK_LINES, MAX_BLOCKS_PER_RECIPIENT, MAX_PROSE_LINES, MAX_RECIPIENTS, MAX_REPORT_CHARS, MAX_REPORT_LINES } from "./limits";
import { failureStatusIn } from "./status";
import {
  BOUNDARY_LINE,
  copyStart,
  DELAY_WARNING,
  FAILURE_WORDS,
  LINE_PATTERNS,
  type LinePattern,
  NOT_A_RECIPIENT_LABEL,
  RECIPIENT_LABEL,
  SENDER_INTRO,
  SMTP_REPLY,
  STRONG_LINE_PATTERNS,
} from "./text-patterns";
import type { ReportedAction } from "./types";

export interface TextFinding {
  address: string;
  action: ReportedAction;
  status: string | null;
  diagnostic: string | null;
}

interface Anchor {
  line: number;
  address: string;
  rest: string;
}

/**
 * Reads the recipients and their reasons out of the human-readable text of a
 * bounce. Only the part before the copy of the returned message is read.
 */
export function readTextBounce(text: string, evidence: Evidence): TextFinding[] {
  const lines = reportLines(text);
  // On weak evidence (a postmaster sender, a bounce-like subject) the report must also say that something failed.
  if (!evidence.strong && !lines.some((line) => FAILURE_WORDS.test(line) || SMTP_REPLY.test(line))) return [];
  const patterns = evidence.recipient ? [{ pattern: evidence.recipient }] : evidence.strong ? STRONG_LINE_PATTERNS : LINE_PATTERNS;
  const anchors = recipientAnchors(lines, patterns);
  const action: ReportedAction = DELAY_WARNING.test(lines.join("\n")) ? "delayed" : "failed";
  // A recipient's block: its line's rest and the lines up to the next recipient. Some
  // reports name a recipient twice (Mail.Ru repeats the report in English): blocks add up, repeats do not.
  const byAddress = new Map<string, Map<string, string[]>>();
  anchors.forEach((anchor, index) => {
    const blocks = byAddress.get(anchor.address) ?? new Map<string, string[]>();
    if (blocks.size >= MAX_BLOCKS_PER_RECIPIENT || (!blocks.size && byAddress.size >= MAX_RECIPIENTS)) return;
    const end = Math.min(anchors[index + 1]?.line ?? lines.length, anchor.line + 1 + MAX_BLOCK_LINES);
    const block = [anchor.rest, ...lines.slice(anchor.line + 1, end)].map((line) => line.trim()).filter(Boolean);
    blocks.set(block.join("\n"), block);
    byAddress.set(anchor.address, blocks);
  });
  const findings = [...byAddress].map(([address, blocks]) => finding(address, action, [...blocks.values()].flat()));
  // A single recipient whose block quotes no reply: the reply is elsewhere in the report (often before the address).
  const only = findings.length === 1 ? findings[0] : undefined;
  if (only && !only.quotesReply) {
    const whole = finding(only.address, action, lines);
    if (whole.quotesReply) return [whole];
  }
  return findings;
}

/** A recipient's status and diagnostic, from the SMTP reply lines of its block if it has any, else from its first lines. */
function finding(address: string, action: ReportedAction, block: string[]): TextFinding & { quotesReply: boolean } {
  const replies = block.filter((line) => SMTP_REPLY.test(line));
  const quotesReply = replies.length > 0;
  return {
    address,
    action,
    status: failureStatusIn(replies.join("\n")) ?? failureStatusIn(block.join("\n")),
    diagnostic: clip((quotesReply ? replies : proseLines(block)).join(" ")),
    quotesReply,
  };
}

/** The first lines of a block that quotes no reply, up to a MIME boundary. */
function proseLines(block: string[]): string[] {
  const end = block.findIndex((line) => BOUNDARY_LINE.test(line.trim()));
  return (end < 0 ? block : block.slice(0, end)).filter((line) => line.trim()).slice(0, MAX_PROSE_LINES);
}

/** The report's own lines: its first MAX_REPORT_LINES, up to where the copy of the returned message starts. */
function reportLines(text: string): string[] {
  const lines = linesOf(text, MAX_REPORT_LINES, MAX_REPORT_CHARS);
  const end = copyStart(lines);
  return end < 0 ? lines : lines.slice(0, end);
}

/**
 * The lines that name a recipient, each read by the first pattern that fits
 * it; not the address on the line after a sender's introduction.
 */
function recipientAnchors(lines: string[], patterns: LinePattern[]): Anchor[] {
  const anchors: Anchor[] = [];
  let previous = "";
  for (const [index, line] of lines.entries()) {
    const afterSenderIntro = SENDER_INTRO.test(previous);
    if (line.trim()) previous = line;
    // Every pattern needs an address, and every address an @: most lines are skipped at the cost of one scan.
    if (!line.includes("@") || afterSenderIntro) continue;
    for (const pattern of patterns) {
      const anchor = anchorIn(line, pattern);
      if (anchor) {
        anchors.push({ ...anchor, line: index });
        break;
      }
    }
  }
  return anchors;
}

function anchorIn(line: string, { pattern, when }: LinePattern): Omit<Anchor, "line"> | null {
  const groups = pattern.exec(line)?.groups;
  const label = groups?.label?.trim();
  if (!groups?.address || (label !== undefined && (NOT_A_RECIPIENT_LABEL.test(label) || !RECIPIENT_LABEL.test(label)))) return null;
  if (when && !when.test(line)) return null;
  const address = canonical(groups.address);
  return address ? { address, rest: groups.rest ?? "" } : null;
}
