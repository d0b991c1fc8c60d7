/**
 * The SMTP protocol pieces (src/outbound/relays/smtp-protocol.ts) that need
 * no server: dot-stuffing (RFC 5321 4.5.2), reply parsing (4.2: multi-line
 * replies) and what a reply says of a recipient (RFC 3463 enhanced status
 * codes, through `readSyncRefusal`).
 */
import { describe, expect, it } from "vitest";
import { readSyncRefusal } from "../../src/inbound/bounce-report";
import { dotStuff, type Reply, ReplyReader, resultOf } from "../../src/outbound/relays/smtp-protocol";
import { RelayError } from "../../src/outbound/relays/types";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe("dotStuff", () => {
  const rows: [name: string, input: string, output: string][] = [
    ["plain text ending in CRLF is unchanged", "Hello\r\nWorld\r\n", "Hello\r\nWorld\r\n"],
    ["a missing final CRLF is added", "Hello", "Hello\r\n"],
    ["empty data becomes one CRLF", "", "\r\n"],
    ["a dot starting the data is doubled", ".hidden\r\n", "..hidden\r\n"],
    ["a line holding only a dot cannot end the data early", "a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n"],
    ["two dots become three", "a\r\n..b\r\n", "a\r\n...b\r\n"],
    ["every dotted line", ".a\r\n.b\r\n.c", "..a\r\n..b\r\n..c\r\n"],
    ["a dot inside a line is left alone", "a.b\r\nc. d\r\n", "a.b\r\nc. d\r\n"],
    ["a dot after an empty line", "\r\n.\r\n", "\r\n..\r\n"],
    ["after a bare LF too", "a\n.b\r\n", "a\n..b\r\n"],
    ["not after a bare CR", "a\r.b\r\n", "a\r.b\r\n"],
    ["data ending in a bare LF still gets CRLF", "a\n", "a\n\r\n"],
    ["data ending in a dot line", "a\r\n.", "a\r\n..\r\n"],
    ["UTF-8 bytes pass through", "é.\r\n.é", "é.\r\n..é\r\n"],
  ];
  it.each(rows)("%s", (_name, input, output) => {
    expect(decoder.decode(dotStuff(encoder.encode(input)))).toBe(output);
  });

  it("undone by the receiver (a leading dot removed per line), gives the data back", () => {
    const input = ".a\r\n..b\r\nc.d\r\n.\r\n\r\n.";
    const received = decoder
      .decode(dotStuff(encoder.encode(input)))
      .split("\r\n")
      .map((line) => (line.startsWith(".") ? line.slice(1) : line))
      .join("\r\n");
    expect(received).toBe(`${input}\r\n`);
  });

  it("stays linear on a large body", () => {
    const body = encoder.encode(".x\r\n".repeat(250_000));
    const out = dotStuff(body);
    expect(out.byteLength).toBe(body.byteLength + 250_000);
  });
});

/** A reader that hands out the chunks given, then ends (or hangs, to test the timeout). */
function readerOf(chunks: (string | Uint8Array)[], end: "close" | "hang" = "close"): ReadableStreamDefaultReader<Uint8Array> {
  const queue = chunks.map((c) => (typeof c === "string" ? encoder.encode(c) : c));
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = queue.shift();
      if (next) controller.enqueue(next);
      else if (end === "close") controller.close();
      else return new Promise<void>(() => {});
    },
  }).getReader();
}

const euro = encoder.encode("250 price: 5€\r\n");
const replyRows: { name: string; chunks: (string | Uint8Array)[]; replies: Reply[] }[] = [
  { name: "one line", chunks: ["220 mx.example.com ESMTP ready\r\n"], replies: [{ code: 220, text: "mx.example.com ESMTP ready" }] },
  {
    name: "multi-line EHLO: the lines joined by LF",
    chunks: ["250-mx.example.com Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n"],
    replies: [{ code: 250, text: "mx.example.com Hello\nPIPELINING\nSIZE 10240000\nSTARTTLS" }],
  },
  { name: "split anywhere across chunks", chunks: ["25", "0-fir", "st\r", "\n250 second\r\n"], replies: [{ code: 250, text: "first\nsecond" }] },
  { name: "a UTF-8 character split across chunks", chunks: [euro.slice(0, euro.length - 4), euro.slice(euro.length - 4)], replies: [{ code: 250, text: "price: 5€" }] },
  {
    name: "the enhanced status code stays in the text",
    chunks: ["550 5.1.1 <x@y.test>: Recipient address rejected: User unknown\r\n"],
    replies: [{ code: 550, text: "5.1.1 <x@y.test>: Recipient address rejected: User unknown" }],
  },
  {
    name: "a multi-line refusal, each line with its enhanced code",
    chunks: ["550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 https://support.example/?p=NoSuchUser\r\n"],
    replies: [{ code: 550, text: "5.1.1 The email account that you tried to reach does not exist.\n5.1.1 https://support.example/?p=NoSuchUser" }],
  },
  { name: "a code with no text", chunks: ["250\r\n"], replies: [{ code: 250, text: "" }] },
  {
    name: "pipelined replies in one chunk, one per command",
    chunks: ["250 2.1.0 Sender ok\r\n550 5.1.1 No such user\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"],
    replies: [
      { code: 250, text: "2.1.0 Sender ok" },
      { code: 550, text: "5.1.1 No such user" },
      { code: 250, text: "2.1.5 Ok" },
      { code: 354, text: "End data with <CR><LF>.<CR><LF>" },
    ],
  },
];

const replyErrors: { name: string; chunks: string[]; end?: "close" | "hang"; message: RegExp; code: string | null }[] = [
  { name: "a line that is no reply", chunks: ["hello there\r\n"], message: /malformed SMTP reply: hello there/, code: null },
  { name: "a code run into its text (no space or hyphen after three digits)", chunks: ["2501 ok\r\n"], message: /malformed SMTP reply: 2501 ok/, code: null },
  { name: "the server hangs up in a multi-line reply", chunks: ["250-first\r\n"], message: /closed the connection/, code: "connection_closed" },
  { name: "nothing comes within the timeout", chunks: ["250-first\r\n"], end: "hang", message: /no reply from the SMTP server within 20 ms/, code: "timeout" },
];

describe("ReplyReader", () => {
  it.each(replyRows)("$name", async ({ chunks, replies }) => {
    const reader = new ReplyReader(readerOf(chunks));
    const got: Reply[] = [];
    for (let i = 0; i < replies.length; i++) got.push(await reader.next(1000));
    expect(got).toEqual(replies);
  });
  it.each(replyErrors)("$name", async ({ chunks, end, message, code }) => {
    const reader = new ReplyReader(readerOf(chunks, end));
    const error = await reader.next(20).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RelayError);
    expect(error).toMatchObject({ message: expect.stringMatching(message), code });
  });
});

// What a 5xx says of the mailbox (RFC 3463): the status the reply names, else 5.0.0, and whether the address is gone.
const refusalRows: [name: string, code: string | null, text: string | null, expected: { status: string; hard: boolean } | null][] = [
  ["user unknown (5.1.1): hard", "550", "5.1.1 <x@y.test>: Recipient address rejected: User unknown", { status: "5.1.1", hard: true }],
  [
    "a multi-line reply, lines joined",
    "550",
    "5.1.1 The email account that you tried to reach does not exist.\n5.1.1 https://support.example/?p=NoSuchUser",
    { status: "5.1.1", hard: true },
  ],
  ["no such domain (5.1.2): hard", "550", "5.1.2 Host unknown: domain not found", { status: "5.1.2", hard: true }],
  ["mailbox full (5.2.2): soft", "552", "5.2.2 Mailbox full", { status: "5.2.2", hard: false }],
  ["mailbox disabled (5.2.1)", "550", "5.2.1 The email account that you tried to reach is disabled.", { status: "5.2.1", hard: false }],
  ["no enhanced code, words say the user is unknown", "550", "Requested action not taken: no such user here", { status: "5.0.0", hard: true }],
  ["no enhanced code, words say nothing of the mailbox", "554", "Transaction failed", null],
  ["policy refusal (5.7.1): nothing about the address", "554", "5.7.1 Message rejected as spam", null],
  ["message too big (5.3.4): nothing about the address", "552", "5.3.4 Message size exceeds fixed limit", null],
  [
    "a relay's summary wrapping the remote reply: the remote's code",
    "554",
    "5.1.0 - Unknown address error 550-'5.2.2 <x@y.test>... Mailbox Full'",
    { status: "5.2.2", hard: false },
  ],
  ["an IP address is not a status code", "554", "Connection from 10.5.1.1 refused by policy", null],
  ["a temporary failure (4xx) is no refusal", "450", "4.2.0 <x@y.test>: Recipient address rejected: Greylisted", null],
  ["a success is no refusal", "250", "2.1.5 Ok", null],
  ["no code", null, "5.1.1 User unknown", null],
];

describe("readSyncRefusal (enhanced status codes of a reply)", () => {
  it.each(refusalRows)("%s", (_name, code, text, expected) => {
    expect(readSyncRefusal(code, text)).toEqual(expected);
  });
});

const resultRows: [name: string, reply: Reply, expected: Record<string, unknown>][] = [
  ["2xx: sent", { code: 250, text: "2.1.5 Ok" }, { status: "sent", code: "250", message: "2.1.5 Ok" }],
  ["4xx: deferred", { code: 451, text: "4.7.1 Try again later" }, { status: "deferred", code: "451" }],
  ["5xx naming the mailbox: failed, counted as a bounce", { code: 550, text: "5.1.1 User unknown" }, { status: "failed", code: "550", bounce: { status: "5.1.1", hard: true } }],
  ["5xx about the message: failed, no bounce", { code: 554, text: "5.7.1 Spam" }, { status: "failed", code: "554" }],
];

describe("resultOf", () => {
  it.each(resultRows)("%s", (_name, reply, expected) => {
    const result = resultOf("x@y.test", reply);
    expect(result).toMatchObject({ address: "x@y.test", ...expected });
    if (!("bounce" in expected)) expect(result.bounce).toBeUndefined();
  });
});
