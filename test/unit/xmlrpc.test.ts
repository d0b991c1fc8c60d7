/**
 * The XML-RPC subset Odoo's external API needs (src/deliveries/xmlrpc.ts):
 * calls encoded as Python's xmlrpc.client reads them, answers decoded as
 * Odoo writes them, and hostile answers refused instead of read.
 */
import { describe, expect, it } from "vitest";
import { decodeMethodResponse, encodeMethodCall, MAX_RESPONSE_CHARS, StreamedBase64, XmlRpcEncodeError, type XmlRpcValue } from "../../src/deliveries/xmlrpc";

/** A methodResponse carrying `value` as Odoo's rpc.dumps writes it. */
const response = (value: string) => `<?xml version="1.0"?>\n<methodResponse>\n<params>\n<param>\n<value>${value}</value>\n</param>\n</params>\n\n</methodResponse>\n`;
const fault = (code: string, text: string) =>
  `<?xml version="1.0"?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value>${code}</value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>${text}</string></value>\n</member>\n</struct></value>\n</fault>\n\n</methodResponse>\n`;

describe("encodeMethodCall", () => {
  it.each<[string, XmlRpcValue, string]>([
    ["a string, escaped", `a<b & "c" > d`, '<value><string>a&lt;b &amp; "c" &gt; d</string></value>'],
    ["CR kept as a reference (a parser would turn it into LF)", "a\r\nb", "<value><string>a&#13;\nb</string></value>"],
    ["UTF-8 text as is", "Réunion 🙂", "<value><string>Réunion 🙂</string></value>"],
    ["an int", 42, "<value><int>42</int></value>"],
    ["a negative int", -7, "<value><int>-7</int></value>"],
    ["a double", 1.5, "<value><double>1.5</double></value>"],
    ["true", true, "<value><boolean>1</boolean></value>"],
    ["false (Python's False: message_process's model for 'route by alias')", false, "<value><boolean>0</boolean></value>"],
    ["nil (Python's None)", null, "<value><nil/></value>"],
    ["bytes as base64", new Uint8Array([0, 13, 10, 255]), "<value><base64>AA0K/w==</base64></value>"],
    ["an array", [1, "a"], "<value><array><data><value><int>1</int></value><value><string>a</string></value></data></array></value>"],
    ["an empty struct (authenticate's user_agent_env)", {}, "<value><struct></struct></value>"],
    [
      "a struct",
      { thread_id: null, save_original: true },
      "<value><struct><member><name>thread_id</name><value><nil/></value></member><member><name>save_original</name><value><boolean>1</boolean></value></member></struct></value>",
    ],
  ])("%s", (_, value, xml) => {
    expect(encodeMethodCall("m", [value])).toEqual([`<?xml version="1.0"?>\n<methodCall><methodName>m</methodName><params><param>${xml}</param></params></methodCall>\n`]);
  });

  it("cuts the document where a streamed base64 value goes", () => {
    const parts = encodeMethodCall("execute_kw", ["db", 7, "key", "mail.thread", "message_process", [false, new StreamedBase64(10)], { thread_id: null }]);
    expect(parts).toHaveLength(2);
    expect(parts[0]!.endsWith("<value><array><data><value><boolean>0</boolean></value><value><base64>")).toBe(true);
    expect(parts[1]!.startsWith("</base64></value></data></array></value></param><param><value><struct>")).toBe(true);
    expect(new StreamedBase64(0).encodedLength).toBe(0);
    expect(new StreamedBase64(1).encodedLength).toBe(4);
    expect(new StreamedBase64(3).encodedLength).toBe(4);
    expect(new StreamedBase64(4).encodedLength).toBe(8);
  });

  it.each<[string, XmlRpcValue]>([
    ["a control character", "a\u0000b"],
    ["a lone surrogate", "a\ud800b"],
    ["an int beyond 32 bits", 2 ** 31],
    ["NaN", Number.NaN],
  ])("refuses %s", (_, value) => {
    expect(() => encodeMethodCall("m", [value])).toThrow(XmlRpcEncodeError);
  });

  it("refuses a method name that is not one", () => {
    expect(() => encodeMethodCall("a<b", [])).toThrow(XmlRpcEncodeError);
  });

  it("round-trips through the decoder", () => {
    const value = { a: [1, -2, true, false, null, "x&y\r\nz", new Uint8Array([1, 2, 3])], b: {} };
    const call = encodeMethodCall("m", [value])[0]!;
    const inner = /<param>(.*)<\/param>/s.exec(call)![1]!.replace(/^<value>|<\/value>$/g, "");
    expect(decodeMethodResponse(response(inner))).toEqual({ kind: "value", value });
  });
});

describe("decodeMethodResponse", () => {
  it.each<[string, string, XmlRpcValue]>([
    ["Odoo's record id", "<int>1042</int>", 1042],
    ["i4", "<i4>7</i4>", 7],
    ["i8", "<i8>9007199254740991</i8>", 9007199254740991],
    ["False (a message Odoo kept no record of)", "<boolean>0</boolean>", false],
    ["a string", "<string>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;</string>", `a & b <c> "d" 'e'`],
    ["an untyped value (a string)", "plain", "plain"],
    ["an empty value", "", ""],
    ["character references", "<string>&#233;&#x1F642;&#13;</string>", "é🙂\r"],
    ["line ends normalized as XML does", "<string>a\r\nb\rc</string>", "a\nb\nc"],
    ["a double", "<double>-1.5e3</double>", -1500],
    ["nil", "<nil/>", null],
    ["a date (as its text)", "<dateTime.iso8601>20261121T10:00:00</dateTime.iso8601>", "20261121T10:00:00"],
    ["base64 with line breaks", "<base64>AA0K\n/w==</base64>", new Uint8Array([0, 13, 10, 255])],
    ["an array", "<array><data>\n<value><int>1</int></value>\n<value><string>a</string></value>\n</data></array>", [1, "a"]],
    ["a struct", "<struct>\n<member>\n<name>id</name>\n<value><int>3</int></value>\n</member>\n</struct>", { id: 3 }],
  ])("%s", (_, xml, value) => {
    expect(decodeMethodResponse(response(xml))).toEqual({ kind: "value", value });
  });

  it("reads Python's own declaration and an answer without one", () => {
    expect(decodeMethodResponse(`<?xml version='1.0'?>\n<methodResponse><params><param><value><int>1</int></value></param></params></methodResponse>`)).toEqual({
      kind: "value",
      value: 1,
    });
    expect(decodeMethodResponse(`<methodResponse><params><param><value><int>1</int></value></param></params></methodResponse>`)).toEqual({ kind: "value", value: 1 });
  });

  it("reads Odoo's faults: the code and the whole string (the caller trims the traceback)", () => {
    expect(decodeMethodResponse(fault("<int>3</int>", "Access Denied"))).toEqual({ kind: "fault", code: 3, message: "Access Denied" });
    const traceback = 'Traceback (most recent call last):\n  File "x.py", line 1, in &lt;module&gt;\nValueError: No possible route found for incoming message';
    expect(decodeMethodResponse(fault("<int>1</int>", traceback))).toEqual({ kind: "fault", code: 1, message: traceback.replace("&lt;", "<").replace("&gt;", ">") });
    // The legacy /xmlrpc/ endpoint's string codes.
    expect(decodeMethodResponse(fault("<string>AccessDenied</string>", "Access Denied"))).toMatchObject({ kind: "fault", code: "AccessDenied" });
  });

  it.each<[string, string]>([
    ["an HTML page", "<html><body>Odoo is starting</body></html>"],
    ["an empty body", ""],
    [
      "a DTD (entity expansion)",
      `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><methodResponse><params><param><value>&lol2;</value></param></params></methodResponse>`,
    ],
    [
      "an external entity",
      `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><methodResponse><params><param><value>&e;</value></param></params></methodResponse>`,
    ],
    ["an undeclared entity", response("<string>&e;</string>")],
    ["a bare ampersand", response("<string>a & b</string>")],
    ["a comment", response("<!-- x --><int>1</int>")],
    ["CDATA", response("<string><![CDATA[x]]></string>")],
    ["a processing instruction", response("<?php x ?><int>1</int>")],
    ["an attribute", response('<int a="1">1</int>')],
    ["another encoding", `<?xml version="1.0" encoding="iso-8859-1"?><methodResponse><params><param><value>x</value></param></params></methodResponse>`],
    ["a reference to a forbidden character", response("<string>&#0;</string>")],
    ["a reference out of range", response("<string>&#x110000;</string>")],
    ["an unclosed element", response("<int>1")],
    ["mismatched tags", response("<int>1</i4>")],
    ["text after the document", `${response("<int>1</int>")}x`],
    ["two params", `<methodResponse><params><param><value>1</value></param><param><value>2</value></param></params></methodResponse>`],
    ["no params", "<methodResponse></methodResponse>"],
    ["a methodCall", `<methodCall><methodName>x</methodName><params/></methodCall>`],
    ["an unknown type", response("<bigdecimal>1</bigdecimal>")],
    ["an int that is not one", response("<int>1.5</int>")],
    ["an int beyond what a number holds exactly", response("<i8>9223372036854775807</i8>")],
    ["a boolean that is not one", response("<boolean>true</boolean>")],
    ["base64 that is not", response("<base64>!!!!</base64>")],
    ["a fault without its fields", `<methodResponse><fault><value><struct></struct></value></fault></methodResponse>`],
    ["a struct member without a name", response("<struct><member><value>1</value></member></struct>")],
    ["text beside a typed value", response("x<int>1</int>")],
  ])("refuses %s", (_, text) => {
    expect(decodeMethodResponse(text)).toMatchObject({ kind: "malformed", reason: expect.any(String) });
  });

  it("refuses nesting past its depth limit without exhausting the stack", () => {
    const deep = `${"<array><data><value>".repeat(5000)}1${"</value></data></array>".repeat(5000)}`;
    expect(decodeMethodResponse(response(deep))).toMatchObject({ kind: "malformed", reason: expect.stringContaining("nested deeper") });
  });

  it("refuses an answer over its size limit without reading it", () => {
    const huge = response(`<string>${"x".repeat(MAX_RESPONSE_CHARS)}</string>`);
    const started = performance.now();
    expect(decodeMethodResponse(huge)).toMatchObject({ kind: "malformed", reason: expect.stringContaining("over") });
    expect(performance.now() - started).toBeLessThan(50);
  });

  it("reads a large string under the limit in linear time", () => {
    const text = "a&amp;b\r\n".repeat(90_000);
    const started = performance.now();
    const decoded = decodeMethodResponse(response(`<string>${text}</string>`));
    expect(decoded).toMatchObject({ kind: "value" });
    expect((decoded as { value: string }).value).toBe("a&b\n".repeat(90_000));
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
