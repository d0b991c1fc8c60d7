/**
 * Hostile "bounces" for the bounce reader's CPU ceiling (bench/conversations.bench.ts
 * times them; test/node/bounce-corpus.test.ts checks that each reads without
 * throwing). Each is about 512 KiB, four times what the reader looks at
 * (MAX_REPORT_BYTES), and shaped to make one stage work hardest: the MIME
 * parser (lines, parts, nesting, header fields, transfer encodings), the
 * line pattern passes (long lines, lines that nearly match, many candidate
 * recipients), the field readers (a DSN with thousands of recipients), and
 * the reading of forwarded bounces. All but the forwards come from a mail
 * system with a bounce subject, so no check stops them early.
 */

const SIZE = 512 * 1024;

/** The envelope of a text bounce: what makes the reader read everything below. */
function daemonHead(extra = ""): string {
  return (
    "Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nTo: bounce@mailgate.example\r\n" +
    `Subject: Mail delivery failed: returning message to sender\r\nX-Failed-Recipients: victim@example.org\r\n${extra}`
  );
}

/** A multipart/report header block, then `body`. */
function report(body: string, boundary = "r"): string {
  return `${daemonHead()}MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"\r\n\r\n${body}`;
}

/** `unit` repeated to fill about `size` bytes. */
function fill(unit: string, size = SIZE): string {
  return unit.repeat(Math.max(1, Math.floor(size / unit.length)));
}

function base64Lines(text: string): string {
  return Buffer.from(text).toString("base64").replace(/.{76}/g, "$&\r\n");
}

/** Name, then the message: each about 512 KiB. */
export function hostileBounces(): [string, string][] {
  const dsnBlock = (i: number) =>
    `Final-Recipient: rfc822; user${i}@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <user${i}@example.org>: user unknown\r\n\r\n`;
  const recipients = Array.from({ length: 10_000 }, (_, i) => dsnBlock(i)).join("");
  let nested = "";
  for (let depth = 0; depth < 2_000; depth++) nested += `--n${depth}\r\nContent-Type: multipart/mixed; boundary="n${depth + 1}"\r\n\r\n`;
  let rfc822 = "Subject: innermost\r\n\r\nhello\r\n";
  for (let depth = 0; depth < 400; depth++) rfc822 = `Content-Type: message/rfc822\r\n\r\n${rfc822}`;
  return [
    ["50,000 short lines", `${daemonHead()}\r\n${fill("a b c\r\n", SIZE)}`],
    ["50,000 recipient lines", `${daemonHead()}\r\n${Array.from({ length: 30_000 }, (_, i) => `<u${i}@x.example>: 550 5.1.1 no\r\n`).join("")}`.slice(0, SIZE)],
    ["50,000 empty lines", `${daemonHead()}\r\n${"\n".repeat(SIZE)}`],
    ["one 512 KiB line of letters", `${daemonHead()}\r\n${"a".repeat(SIZE)}\r\n`],
    ["one 512 KiB line of address-like text", `${daemonHead()}\r\n${fill("aaaa@bbbb.cccc.dddd ")}\r\n`],
    ["one 512 KiB line of near-addresses", `${daemonHead()}\r\n${fill("a.b-c_d@e-f.g_h.")}\r\n`],
    ["one 512 KiB line of replies and codes", `${daemonHead()}\r\n${fill("550 5.1.1 550-5.7.0 250 2.1.5 Ok ")}\r\n`],
    ["one 512 KiB line of quotes and brackets", `${daemonHead()}\r\n${fill('"<[(a@b "<[( ')}\r\n`],
    ["one 512 KiB line, CR-only endings", `${daemonHead().replace(/\r\n/g, "\r")}\r${fill("x@y.example: 550 no\r")}`],
    ["one 512 KiB Subject", `${daemonHead(`Subject: ${fill("undeliverable =?utf-8?q?=C3=A9?= ")}\r\n`)}\r\nhello\r\n`],
    ["one 512 KiB From", `${daemonHead().replace("From: ", `From: ${fill('"(a)" <b@c>, ')}`)}\r\nhello\r\n`],
    ["huge header block (20,000 fields)", `${daemonHead(fill("Received: from a.example by b.example; Mon, 1 Jan 2024\r\n", SIZE - 4096))}\r\nhello\r\n`],
    ["10,000 tiny MIME parts", report(`${fill("--r\r\nContent-Type: text/plain\r\n\r\nx\r\n", SIZE - 16)}--r--\r\n`)],
    [
      "10,000 tiny delivery-status parts",
      report(`${fill(`--r\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nStatus: 5.1.1\r\n\r\n`, SIZE - 16)}--r--\r\n`),
    ],
    ["2,000 nested multiparts", report(`--r\r\nContent-Type: multipart/mixed; boundary="n0"\r\n\r\n${nested}${fill("--n0\r\n", 100_000)}`)],
    [
      "400 nested message/rfc822",
      report(`--r\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nStatus: 5.1.1\r\n\r\n--r\r\n${rfc822}--r--\r\n`),
    ],
    ["DSN with 10,000 recipients", report(`${`--r\r\nContent-Type: message/delivery-status\r\n\r\n${recipients}`.slice(0, SIZE - 16)}\r\n--r--\r\n`)],
    ["DSN fields as text, 10,000 recipients", `${daemonHead()}\r\n${recipients}`.slice(0, SIZE)],
    [
      "one DSN field folded over 50,000 lines",
      report(
        `--r\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nDiagnostic-Code: smtp; 550\r\n${fill(" 5.1.1 x\r\n", SIZE - 200)}--r--\r\n`,
      ),
    ],
    [
      "base64 text part, 512 KiB",
      report(`--r\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(fill("<a@b.example>: 550 5.1.1 user unknown\n", 380_000))}\r\n--r--\r\n`),
    ],
    [
      "base64 delivery-status, 512 KiB",
      report(`--r\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(recipients.slice(0, 380_000))}\r\n--r--\r\n`),
    ],
    [
      "quoted-printable soft breaks, one 512 KiB line",
      report(`--r\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${fill("abc@d.example =3D550 5.1.1=\r\n")}\r\n--r--\r\n`),
    ],
    ["html part of 50,000 tags", report(`--r\r\nContent-Type: text/html\r\n\r\n${fill("<div><a href=x>a@b.example</a></div>\r\n", SIZE - 64)}\r\n--r--\r\n`)],
    [
      "returned message headers, 20,000 fields",
      report(
        `--r\r\nContent-Type: text/plain\r\n\r\n<a@b.example>: 550 5.1.1 no\r\n--r\r\nContent-Type: message/rfc822\r\n\r\n${fill("Received: from a by b\r\n", SIZE - 200)}\r\n--r--\r\n`,
      ),
    ],
    [
      "quoted headers after a copy line, 20,000 fields",
      `${daemonHead()}\r\n<a@b.example>: 550 5.1.1 no\r\n------ This is a copy of the message, including all the headers. ------\r\n${fill("Message-ID: <x@y>\r\n", SIZE - 400)}`,
    ],
    [
      "SES JSON of 10,000 recipients",
      `From: no-reply@sns.amazonaws.com\r\nSubject: AWS Notification Message\r\n\r\n{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[${Array.from({ length: 10_000 }, (_, i) => `{"emailAddress":"u${i}@x.example","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 no"}`).join(",")}]}}\r\n`.slice(
        0,
        SIZE,
      ),
    ],
    ["lines of near-address prose", `${daemonHead()}\r\n${fill(`could not deliver your message to ${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(62)}- 550 to x\r\n`)}`],
    ["lines of 250 addresses each", `${daemonHead()}\r\n${fill(`${"a@b.example ".repeat(83)}\r\n`)}`],
    [
      "lines of labels and addresses",
      `${daemonHead()}\r\n${fill(`${"Recipient address rejected x".repeat(2)}: <${"a".repeat(64)}@${"b.".repeat(40)}c> failed to <x@${"d".repeat(63)}>\r\n`)}`,
    ],
    ["lines of replies and codes", `${daemonHead()}\r\n${fill(`${"550 5.1.1 <<< 250 2.1.5 #4.4.7 ".repeat(30)}\r\n`)}`],
    [
      "X-Failed-Recipients of 10,000 addresses",
      `${daemonHead(`X-Failed-Recipients: ${Array.from({ length: 10_000 }, (_, i) => `u${i}@x.example`).join(",\r\n  ")}\r\n`)}\r\nhello\r\n`,
    ],
    [
      "base64 html part, 512 KiB",
      report(`--r\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(fill("<p>a@b.example<br>550 5.1.1</p>\n", 380_000))}\r\n--r--\r\n`),
    ],
    [
      "forward marker then 20,000 fields",
      `From: Someone <someone@example.org>\r\nSubject: Fwd: x\r\n\r\n---------- Forwarded message ---------\r\nFrom: MAILER-DAEMON@x.example\r\nSubject: Returned mail\r\n${fill("X-Field: <a@b.example>: 550 5.1.1\r\n")}`,
    ],
    [
      "forwarded bounces attached, 1,000 of them",
      `From: Someone <someone@example.org>\r\nSubject: Fwd: x\r\nContent-Type: multipart/mixed; boundary="f"\r\n\r\n${fill(`--f\r\nContent-Type: message/rfc822\r\n\r\n${daemonHead()}\r\n${"<a@b.example>: 550 5.1.1 no\r\n".repeat(10)}\r\n`)}`,
    ],
    [
      "forward of a forward, nested 200 deep",
      `From: Someone <someone@example.org>\r\nSubject: Fwd: x\r\n\r\n${"---------- Forwarded message ---------\r\nFrom: Someone <someone@example.org>\r\nSubject: Fwd: x\r\n\r\n".repeat(200)}${fill("<a@b.example>: 550 5.1.1 no\r\n")}`,
    ],
    [
      "ARF with 10,000 fields",
      `From: feedback@arf.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary="r"\r\n\r\n--r\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n${fill("Original-Rcpt-To: <a@b.example>\r\n", SIZE - 400)}\r\n--r--\r\n`,
    ],
  ];
}
