/**
 * The readers' budget, every limit in one place. The work is bounded by
 * design, not by the input: whatever arrives, only its start is read, and
 * every pass of every reader sees a bounded number of bounded lines. What a
 * report needs sits near its start (the report's own text, the DSN fields,
 * the headers of the returned original); what follows is the returned
 * message's body and attachments, which no pass reads.
 */

/**
 * Only this many bytes of a message are parsed (src/inbound/bounce.ts reads
 * no more from R2). The largest real report in the corpus is 72 KiB, most of
 * it the returned message.
 */
export const MAX_REPORT_BYTES = 128 * 1024;
/**
 * Only this many lines are parsed: the MIME parser's work grows with lines
 * more than with bytes (each line is a step of its own), so 128 KiB of empty
 * lines must not cost what 128 KiB of 76-character lines do.
 */
export const MAX_PARSE_LINES = 2000;
/**
 * Top header fields handed to the parser: those the reader looks at, each
 * cut to this many bytes. The parser decodes every field it is given and
 * parses every address field in full (To, Cc, ... however long and many),
 * which the reader never reads; real bounces carry a hundred Received and
 * ARC lines.
 */
export const MAX_READ_FIELD_BYTES = 4096;
export const MAX_READ_FIELDS = 32;
/**
 * Lines starting with "--" parsed (each may start a MIME part): a report has
 * three or four parts, and the returned message some of its own.
 */
export const MAX_BOUNDARY_LINES = 64;
/** MIME parts nested deeper than this make the message unreadable (no report): real reports nest three or four deep. */
export const MAX_MIME_DEPTH = 16;
export const MAX_DIAGNOSTIC_CHARS = 1000;
/** Lines are cut to this length before any pattern runs (RFC 5322 allows 998), so no regex sees a long input. */
export const MAX_LINE_CHARS = 1000;
/** Lines of a text bounce read after a recipient for its diagnostic. */
export const MAX_BLOCK_LINES = 15;
/** Lines of that block kept as the diagnostic when it quotes no SMTP reply. */
export const MAX_PROSE_LINES = 3;
/**
 * Lines of a report's text that the pattern passes read (recipients, the
 * start of the returned copy): its report comes first, and is short. The
 * longest in the corpus names its recipients within 60 lines.
 */
export const MAX_REPORT_LINES = 300;
/** Characters of those lines read in all: the longest report in the corpus has 6.4 K before its returned copy. */
export const MAX_REPORT_CHARS = 32 * 1024;
/** Lines of header fields read in one place: a DSN part, a returned message's header block (quoted or in a part). */
export const MAX_FIELD_LINES = 1000;
/** A field's value is cut to this length (a folded To of a thousand addresses is read no further). */
export const MAX_FIELD_CHARS = 4000;
/** Bytes of a returned message read for its header block; its body is never read. */
export const MAX_ORIGINAL_HEADER_BYTES = 32 * 1024;
/** MIME parts looked at: a report has three, one whose DSN lists recipients one part each has a few more. */
export const MAX_PARTS = 50;
/**
 * Recipients read from one report: a report is about one message, and lists
 * the recipients it failed for at one MTA, a handful; more is only cost.
 */
export const MAX_RECIPIENTS = 100;
/** Distinct blocks read for one recipient named several times. */
export const MAX_BLOCKS_PER_RECIPIENT = 3;
/** Lines of a forwarded message parsed: its report, its DSN fields, the returned headers. */
export const MAX_FORWARDED_LINES = 400;
