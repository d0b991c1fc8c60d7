/**
 * Headers of the mail we write (src/mail/mime-header.ts, on nodemailer's
 * mime-funcs) and the MIME around them (src/outbound/compose.ts): display
 * names as Odoo's `formataddr` writes them, RFC 2047 words, folding (76
 * characters a line with encoded words, else 78), RFC 2231 attachment
 * names, the part layout. Each table is
 * also read back by postal-mime and by Python's `email` with `policy.SMTP`
 * (no defect), the two readers the workers tests check.
 */

import { execFileSync } from "node:child_process";
import PostalMime from "postal-mime";
import { describe, expect, it } from "vitest";
import { asciiDomain, encodeText, formatMailbox, headerLine } from "../../src/mail/mime-header";
import { compose, type OutboundContent } from "../../src/outbound/compose";
import { formatReplyTo } from "../../src/outbound/rewrite-from";

type Mailbox = Parameters<typeof formatMailbox>[0];

const lines = (header: string) => header.split("\r\n");
const longest = (text: string) => Math.max(...lines(text).map((line) => line.length));

/** What Python's `email` (policy.SMTP) reads of each message: its defects, addresses, subject and attachment names. */
function pythonReads(messages: string[]): { defects: string[]; addresses: Record<string, [string, string][]>; subject: string | null; filenames: string[] }[] {
  const script = `
import email, json, sys
from email import policy
out = []
for raw in json.load(sys.stdin):
    m = email.message_from_string(raw, policy=policy.SMTP)
    defects = [repr(d) for part in m.walk() for d in part.defects]
    defects += [repr(d) for part in m.walk() for k, v in part.items() for d in getattr(v, "defects", [])]
    addresses = {k: [[a.display_name, a.addr_spec] for a in m[k].addresses] for k in ("From", "Reply-To", "To", "Cc") if m[k] is not None}
    filenames = [p.get_filename() for p in m.walk() if p.get_filename()]
    out.append({"defects": defects, "addresses": addresses, "subject": None if m["Subject"] is None else str(m["Subject"]), "filenames": filenames})
print(json.dumps(out))
`;
  return JSON.parse(execFileSync("python3", ["-c", script], { input: JSON.stringify(messages), encoding: "utf8" }));
}

const message = (headers: string[]) => `${headers.join("\r\n")}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nx\r\n`;

describe("formatMailbox: Odoo's formataddr", () => {
  const rows: [name: string, mailbox: Mailbox, written: string][] = [
    ["no name: the bare address", { name: "", address: "jane@example.com" }, "jane@example.com"],
    ["an ASCII name is always quoted", { name: "Jane", address: "jane@example.com" }, `"Jane" <jane@example.com>`],
    ["quotes and backslashes are escaped", { name: 'Say "hi" \\ there', address: "a@example.com" }, `"Say \\"hi\\" \\\\ there" <a@example.com>`],
    ["commas and other specials stay inside the quotes", { name: "Doe, John (JD) <x@y>; ok:", address: "jd@example.com" }, `"Doe, John (JD) <x@y>; ok:" <jd@example.com>`],
    ["a non-ASCII name: one base64 encoded word", { name: "Zoë", address: "zoe@example.com" }, "=?utf-8?b?Wm/Dqw==?= <zoe@example.com>"],
    ["a name that would read as an encoded word is encoded", { name: "=?utf-8?q?Boss?=", address: "x@example.com" }, "=?utf-8?b?PT91dGYtOD9xP0Jvc3M/PQ==?= <x@example.com>"],
    ["an IDN domain in punycode", { name: "", address: "Jürgen@bücher.example" }, "Jürgen@xn--bcher-kva.example"],
    ["a quoted local part is kept as written", { name: "", address: '"alice@one.example, bob@two.example"@relay.example' }, '"alice@one.example, bob@two.example"@relay.example'],
  ];
  it.each(rows)("%s", (_name, mailbox, written) => {
    expect(formatMailbox(mailbox)).toBe(written);
  });

  it("a long non-ASCII name is split into words of at most 68 characters (42 bytes), never inside a character", () => {
    const name = "Jürgen Groß-Müller von und zu Königsberg-Überlingen 日本語の名前 😀😀😀😀😀😀😀😀";
    const words = formatMailbox({ name, address: "j@example.com" })
      .replace(/ <j@example\.com>$/, "")
      .split(" ");
    expect(words.length).toBeGreaterThan(2);
    for (const word of words) {
      expect(word).toMatch(/^=\?utf-8\?b\?[A-Za-z0-9+/=]+\?=$/);
      expect(word.length).toBeLessThanOrEqual(68);
      const bytes = Buffer.from(word.slice(10, -2), "base64");
      expect(bytes.byteLength).toBeLessThanOrEqual(42);
      // Each word decodes on its own to whole characters (RFC 2047 5: no character split between words).
      expect(() => new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes)).not.toThrow();
    }
  });

  it("asciiDomain leaves ASCII alone and punycodes the domain only", () => {
    expect(asciiDomain("Mary@Example.COM")).toBe("Mary@Example.COM");
    expect(asciiDomain("zoë@bücher.example")).toBe("zoë@xn--bcher-kva.example");
  });
});

describe("address headers: folded within 76 characters (78 without encoded words), read back the same", () => {
  const long = "A very long display name that keeps going and going and going past the limit";
  const rows: [name: string, header: string, mailboxes: Mailbox[]][] = [
    ["ASCII", "From", [{ name: "Jane Doe", address: "jane@example.com" }]],
    ["quotes needing quoting", "From", [{ name: 'The "Best" Shop \\ Co', address: "shop@example.com" }]],
    ["non-ASCII", "From", [{ name: "Zoë Ünlü", address: "zoe@example.com" }]],
    ["a very long ASCII name", "From", [{ name: long, address: "long@example.com" }]],
    ["a non-ASCII name of 42 bytes: one word", "From", [{ name: "Jürgen Groß-Müller von Königsberg-Übe", address: "j@example.com" }]],
    ["a very long non-ASCII name", "Reply-To", [{ name: `${long} — Grüße aus Köln, 日本語`, address: "long@example.com" }]],
    [
      "commas and specials",
      "To",
      [
        { name: "Doe, John", address: "jd@example.com" },
        { name: "Smith; Ann <boss>", address: "ann@example.com" },
      ],
    ],
    [
      "a list mixing every kind",
      "Cc",
      [
        { name: "", address: "bare@example.com" },
        { name: "Jürgen Groß", address: "j@example.org" },
        { name: long, address: "a@example.org" },
        { name: "", address: '"alice@one.example, bob@two.example"@relay.example' },
      ],
    ],
  ];
  const written = rows.map(([, header, mailboxes]) => headerLine(header, mailboxes.map(formatMailbox).join(", ")));

  it.each(rows.map((row, i) => [...row, written[i]!] as const))("%s", (_name, header, _mailboxes, line) => {
    // A first word too long for the line after `Reply-To: ` goes on the next (a fold right after the colon is valid).
    expect(line).toMatch(new RegExp(`^${header}:(?: |\r\n )\\S`));
    expect(longest(line)).toBeLessThanOrEqual(/=\?/.test(line) ? 76 : 78);
    // Continuation lines start with whitespace (RFC 5322 2.2.3).
    for (const continuation of lines(line).slice(1)) expect(continuation).toMatch(/^ \S/);
  });

  it("postal-mime reads every name and address back", async () => {
    for (const [i, [, header, mailboxes]] of rows.entries()) {
      const parsed = await PostalMime.parse(message([written[i]!]));
      const key = ({ From: "from", "Reply-To": "replyTo", To: "to", Cc: "cc" } as const)[header]!;
      const read = [parsed[key]].flat().filter((a) => a !== undefined);
      // postal-mime drops the quotes of a quoted local part; Python keeps them (below).
      expect(read.map((a) => ({ name: a.name, address: a.address }))).toEqual(mailboxes.map((m) => ({ name: m.name, address: asciiDomain(m.address).replace(/^"(.*)"@/, "$1@") })));
    }
  });

  it("Python's policy.SMTP reads them with no defect", () => {
    const read = pythonReads(rows.map((_, i) => message([written[i]!])));
    for (const [i, [, header, mailboxes]] of rows.entries()) {
      expect(read[i]!.defects).toEqual([]);
      // A name of several encoded words: Python before gh-128110 keeps the spaces between them (RFC 2047 6.2 drops them).
      const severalWords = (m: Mailbox) => (formatMailbox(m).match(/=\?utf-8/g) ?? []).length > 1;
      const name = (m: Mailbox, text: string) => (severalWords(m) ? text.replace(/\s+/g, "") : text);
      expect(read[i]!.addresses[header]!.map(([text, address], j) => [name(mailboxes[j]!, text), address])).toEqual(
        mailboxes.map((m) => [name(m, m.name), asciiDomain(m.address)]),
      );
    }
  });
});

describe("Reply-To as Odoo formats it (formatReplyTo): one line within 78", () => {
  const rows: [company: string | null, record: string | null, written: string][] = [
    ["Acme", "Ticket 42", `Reply-To: "Acme Ticket 42" <catchall@example.com>`],
    ["Example Company Incorporated", "A very long record name that takes up room", `Reply-To: "A very long record name that takes up room" <catchall@example.com>`],
    ["Société Générale", "Réclamation n° 12", "Reply-To: =?utf-8?b?UsOpY2xhbWF0aW9uIG7CsCAxMg==?= <catchall@example.com>"],
    [null, "x".repeat(60), "Reply-To: catchall@example.com"],
  ];
  it.each(rows)("%s / %s", (company, record, written) => {
    const line = headerLine("Reply-To", formatMailbox(formatReplyTo("catchall@example.com", company, record)));
    expect(line).toBe(written);
    expect(line.length).toBeLessThanOrEqual(78);
  });
});

describe("encodeText: unstructured text (Subject, custom headers)", () => {
  const rows: [name: string, text: string, encoded: boolean][] = [
    ["printable ASCII as is", "Re: Order 42 (urgent)", false],
    ["ASCII quotes need no encoding here", 'The "best" offer', false],
    ["non-ASCII", "Grüße aus Köln", true],
    ["text that would read as an encoded word", "see =?utf-8?q?x?= here", true],
    ["a control character", "tab\there", true],
    ["a word too long to fold", `x${"y".repeat(950)}`, true],
    ["a long ASCII subject folds at its spaces", "word ".repeat(60).trim(), false],
    ["a long non-ASCII subject", "Über die Grüße — a subject with “quotes” and 日本語 ".repeat(4).trim(), true],
  ];
  const written = rows.map(([, text]) => headerLine("Subject", encodeText(text)));

  it.each(rows.map((row, i) => [...row, written[i]!] as const))("%s", (_name, text, encoded, line) => {
    expect(encodeText(text) === text).toBe(!encoded);
    expect(longest(line)).toBeLessThanOrEqual(encoded ? 76 : 78);
  });

  it("read back as written by postal-mime and by Python (no defect)", async () => {
    const read = pythonReads(written.map((line) => message([line])));
    for (const [i, [, text]] of rows.entries()) {
      expect((await PostalMime.parse(message([written[i]!]))).subject).toBe(text);
      expect(read[i]!.defects).toEqual([]);
      expect(read[i]!.subject).toBe(text);
    }
  });
});

describe("compose", () => {
  const base: OutboundContent = {
    from: { name: "Zoë Ünlü", address: "zoe@example.com" },
    to: [{ name: "Jürgen Groß", address: "j@example.org" }],
    cc: [],
    replyTo: { name: "Acme Ticket 42", address: "catchall@example.com" },
    subject: "Über die Grüße",
    text: "Bonjour ☕",
    html: null,
    attachments: [],
    headers: {},
    messageId: "<msg_1@example.com>",
    inReplyTo: null,
    references: [],
    date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
  };
  const raw = (content: Partial<OutboundContent>) => {
    return compose({ ...base, ...content });
  };
  const structure = async (text: string) => {
    const read = pythonReads([text])[0]!;
    expect(read.defects).toEqual([]);
    return read;
  };
  const contentTypes = (text: string) => [...text.matchAll(/^Content-Type: ([^;\r]+)/gm)].map((m) => m[1]);

  it("the headers: Date, ids unfolded, our own Message-ID copy, undisclosed recipients when only Bcc", () => {
    const text = raw({ to: [], references: ["<a@x>", "<b@x>"], inReplyTo: "<b@x>", headers: { "X-Campaign": "spring" } });
    expect(text).toMatch(/^Date: Fri, 02 Jan 2026 03:04:05 \+0000\r$/m);
    expect(text).toMatch(/^Message-ID: <msg_1@example\.com>\r$/m);
    expect(text).toMatch(/^X-Mailgate-Message-Id: <msg_1@example\.com>\r$/m);
    expect(text).toMatch(/^In-Reply-To: <b@x>\r$/m);
    expect(text).toMatch(/^References: <a@x> <b@x>\r$/m);
    expect(text).toMatch(/^To: undisclosed-recipients:;\r$/m);
    expect(text).toMatch(/^X-Campaign: spring\r$/m);
    expect(text.endsWith("\r\n")).toBe(true);
  });

  it("bodies are 7bit when ASCII with short lines, else base64; every line ends in CRLF", () => {
    expect(raw({ text: "Hello\nWorld" })).toMatch(/Content-Transfer-Encoding: 7bit\r\n\r\nHello\r\nWorld\r\n$/);
    expect(raw({ text: "Bonjour ☕" })).toMatch(/Content-Transfer-Encoding: base64\r\n\r\nQm9uam91ciDimJU=\r\n$/);
    expect(raw({ text: "x".repeat(999) })).toMatch(/Content-Transfer-Encoding: base64/);
    expect(
      raw({ text: "x".repeat(200) })
        .split("\r\n")
        .every((line) => !line.includes("\n")),
    ).toBe(true);
  });

  it("the layout: text alone, alternative, related for inline parts, mixed for attachments", async () => {
    const png = { filename: "logo.png", content: btoa("png"), contentType: "image/png", contentId: "<logo@x>" };
    const pdf = { filename: "a.pdf", content: btoa("pdf"), contentType: "application/pdf" };
    expect(contentTypes(raw({}))).toEqual(["text/plain"]);
    expect(contentTypes(raw({ html: "<p>x</p>" }))).toEqual(["multipart/alternative", "text/plain", "text/html"]);
    expect(contentTypes(raw({ text: null, html: "<p>x</p>", attachments: [png] }))).toEqual(["multipart/related", "text/html", "image/png"]);
    const all = raw({ html: "<p>x</p>", attachments: [pdf, png] });
    expect(contentTypes(all)).toEqual(["multipart/mixed", "multipart/related", "multipart/alternative", "text/plain", "text/html", "image/png", "application/pdf"]);
    expect(all).toMatch(/multipart\/related; type="multipart\/alternative";/);
    expect((await structure(all)).filenames).toEqual(["logo.png", "a.pdf"]);
    const parsed = await PostalMime.parse(all);
    expect(parsed.attachments.map((a) => [a.filename, a.mimeType, a.contentId ?? null])).toEqual([
      ["logo.png", "image/png", "<logo@x>"],
      ["a.pdf", "application/pdf", null],
    ]);
    // Attachments alone still get an (empty) text part.
    expect(contentTypes(raw({ text: null, html: null, attachments: [pdf] }))).toEqual(["multipart/mixed", "text/plain", "application/pdf"]);
  });

  it("attachment names: quoted when plain, RFC 2231 otherwise (never an encoded word in quotes), read back by both", async () => {
    const names = ["plain.pdf", "Résumé — “final” version.pdf", "日本語の資料.txt", 'quote " and \\ backslash.txt', `${"long name ".repeat(12)}é.txt`];
    const text = raw({ attachments: names.map((filename) => ({ filename, content: btoa("data"), contentType: "application/octet-stream" })) });
    expect(text).toMatch(/^Content-Disposition: attachment; filename=plain\.pdf\r$/m);
    expect(text).toMatch(/^ filename\*0\*=utf-8''R%C3%A9sum%C3%A9/m);
    expect(text).not.toMatch(/name="=\?/i);
    expect(text.split("\r\n").filter((line) => line.length > 78)).toEqual([]);
    expect((await PostalMime.parse(text)).attachments.map((a) => a.filename)).toEqual(names);
    expect((await structure(text)).filenames).toEqual(names);
  });

  it("a content type that is not a MIME type goes as application/octet-stream", () => {
    const text = raw({ attachments: [{ filename: "x.bin", content: btoa("x"), contentType: "weird\r\nX-Injected: yes" }] });
    expect(text).toMatch(/^Content-Type: application\/octet-stream; name=x\.bin\r$/m);
    expect(text).not.toMatch(/^X-Injected/m);
  });

  it("the whole message: no defect for Python, the same names and subject for both readers", async () => {
    const text = raw({ cc: [{ name: "Doe, John", address: "jd@example.org" }], html: "<p>Bonjour ☕</p>" });
    const read = await structure(text);
    expect(read.subject).toBe("Über die Grüße");
    expect(read.addresses).toEqual({
      From: [["Zoë Ünlü", "zoe@example.com"]],
      "Reply-To": [["Acme Ticket 42", "catchall@example.com"]],
      To: [["Jürgen Groß", "j@example.org"]],
      Cc: [["Doe, John", "jd@example.org"]],
    });
    const parsed = await PostalMime.parse(text);
    expect([parsed.from?.name, parsed.subject, parsed.text, parsed.html]).toEqual(["Zoë Ünlü", "Über die Grüße", "Bonjour ☕", "<p>Bonjour ☕</p>"]);
  });
});
