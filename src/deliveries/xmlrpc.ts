/**
 * XML-RPC (http://xmlrpc.com/spec.md), only as far as Odoo's external API
 * needs it: a `methodCall` with strings, integers, booleans, nil, base64,
 * arrays and structs, and a `methodResponse` with one value or a fault.
 * Pure: the HTTP side is in src/deliveries/odoo.ts.
 *
 * The answer is read by a strict parser of this subset only, never by a
 * general XML parser: no DTD, no comments, CDATA or processing
 * instructions (past the XML declaration), no attributes, no entity but
 * the five predefined ones and character references, a bounded depth. An
 * answer with anything else is malformed, so entity expansion and
 * external entities cannot happen by construction.
 */
import { fromBase64, toBase64 } from "../mail/bytes";

/** A value as JavaScript holds it: a number with no fraction is an `<int>`, bytes are `<base64>`, null is `<nil/>`. */
export type XmlRpcValue = null | boolean | number | string | Uint8Array | XmlRpcValue[] | { [name: string]: XmlRpcValue };

/**
 * A `<base64>` value whose text the caller writes itself, between the
 * parts `encodeMethodCall` answers: a message of megabytes goes out as a
 * stream instead of one string in memory.
 */
export class StreamedBase64 {
  constructor(readonly size: number) {}

  /** The length of its text: 4 characters per started group of 3 bytes (padded, no line breaks). */
  get encodedLength(): number {
    return 4 * Math.ceil(this.size / 3);
  }
}

/** A value a caller cannot encode (a bug: what goes in is checked before). */
export class XmlRpcEncodeError extends Error {
  override name = "XmlRpcEncodeError";
}

/** XML 1.0 `Char`: what may appear in a document at all, even escaped. */
const NOT_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

/**
 * Text escaped for element content. CR is written as `&#13;`: a parser
 * turns a literal CR (and CRLF) into LF (XML 1.0 2.11), which is also why
 * a message goes as base64, never as a string.
 */
function escapeText(text: string): string {
  if (NOT_XML_CHAR.test(text)) throw new XmlRpcEncodeError("a string holds a character XML cannot carry (a control character or a lone surrogate)");
  return text.replace(/[&<>\r]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&#13;"));
}

/** Where a streamed value's text goes, in the list of pieces. */
const CUT = Symbol("cut");
type Pieces = (string | typeof CUT)[];

function encodeValue(value: XmlRpcValue | StreamedBase64, out: Pieces): void {
  if (value instanceof StreamedBase64) return void out.push("<value><base64>", CUT, "</base64></value>");
  if (value === null) return void out.push("<value><nil/></value>");
  switch (typeof value) {
    case "boolean":
      return void out.push(`<value><boolean>${value ? 1 : 0}</boolean></value>`);
    case "number":
      if (Number.isInteger(value)) {
        if (value < INT_MIN || value > INT_MAX) throw new XmlRpcEncodeError(`${value} is out of XML-RPC's 32-bit int range`);
        return void out.push(`<value><int>${value}</int></value>`);
      }
      if (!Number.isFinite(value)) throw new XmlRpcEncodeError(`${value} has no XML-RPC form`);
      return void out.push(`<value><double>${value}</double></value>`);
    case "string":
      return void out.push(`<value><string>${escapeText(value)}</string></value>`);
  }
  if (value instanceof Uint8Array) return void out.push(`<value><base64>${toBase64(value)}</base64></value>`);
  if (Array.isArray(value)) {
    out.push("<value><array><data>");
    for (const item of value) encodeValue(item, out);
    out.push("</data></array></value>");
    return;
  }
  out.push("<value><struct>");
  for (const [name, member] of Object.entries(value)) {
    out.push(`<member><name>${escapeText(name)}</name>`);
    encodeValue(member, out);
    out.push("</member>");
  }
  out.push("</struct></value>");
}

type Param = XmlRpcValue | StreamedBase64 | Param[] | { [name: string]: Param };

/**
 * A `methodCall` document, cut where each `StreamedBase64` goes: one part
 * more than there are of them (one part for a call without any). Strings
 * must be XML characters (else XmlRpcEncodeError).
 */
export function encodeMethodCall(method: string, params: Param[]): string[] {
  if (!/^[A-Za-z0-9_.:/]+$/.test(method)) throw new XmlRpcEncodeError(`"${method}" is not a method name`);
  const out: Pieces = [`<?xml version="1.0"?>\n<methodCall><methodName>${method}</methodName><params>`];
  for (const param of params) {
    out.push("<param>");
    encodeValue(param as XmlRpcValue, out);
    out.push("</param>");
  }
  out.push("</params></methodCall>\n");
  const parts: string[] = [];
  let current = "";
  for (const piece of out) {
    if (piece === CUT) {
      parts.push(current);
      current = "";
    } else current += piece;
  }
  parts.push(current);
  return parts;
}

/** What a `methodResponse` says: its value, a fault (Odoo's exception), or that it is no XML-RPC answer at all. */
export type MethodResponse = { kind: "value"; value: XmlRpcValue } | { kind: "fault"; code: number | string; message: string } | { kind: "malformed"; reason: string };

/** Answers larger than this are not read (Odoo's answers here are an id, or a fault with a traceback). */
export const MAX_RESPONSE_CHARS = 1024 * 1024;
/** Nesting deeper than this is refused: no answer of Odoo's comes near it. */
const MAX_DEPTH = 40;

interface Element {
  name: string;
  children: (Element | string)[];
}

class Malformed extends Error {}

const PREDEFINED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Character data: line ends normalized (XML 1.0 2.11), then references replaced; any other `&` is an error. */
function textOf(raw: string): string {
  const normalized = raw.replace(/\r\n?/g, "\n");
  return normalized.replace(/&([^;]{0,10});|&/g, (match, ref: string | undefined) => {
    if (ref === undefined) throw new Malformed("a bare & in text");
    if (ref in PREDEFINED) return PREDEFINED[ref]!;
    const code = /^#x[0-9a-fA-F]{1,6}$/.test(ref) ? Number.parseInt(ref.slice(2), 16) : /^#[0-9]{1,7}$/.test(ref) ? Number(ref.slice(1)) : Number.NaN;
    if (Number.isNaN(code)) throw new Malformed(`an entity other than XML's five (&${ref};): entities are not accepted`);
    if (code > 0x10ffff) throw new Malformed(`a character reference out of range (${match})`);
    const char = String.fromCodePoint(code);
    if (NOT_XML_CHAR.test(char)) throw new Malformed(`a character reference to a character XML forbids (${match})`);
    return char;
  });
}

/** Elements and text only: the whole XML a `methodResponse` uses. */
function parseDocument(text: string): Element {
  let at = 0;
  const declaration = /^\uFEFF?<\?xml(?:\s+[^?<>]*)?\?>/.exec(text);
  if (declaration) {
    // Odoo writes version="1.0"; Python's own xmlrpc.client writes version='1.0'.
    if (!/^\uFEFF?<\?xml\s+version=(["'])1\.[0-9]\1(?:\s+encoding=(["'])(?:utf-8|us-ascii)\2)?\s*\?>$/i.test(declaration[0])) {
      throw new Malformed("an XML declaration other than version 1.x in UTF-8");
    }
    at = declaration[0].length;
  }
  const skipSpace = () => {
    while (at < text.length && /[ \t\r\n]/.test(text[at]!)) at++;
  };
  const element = (depth: number): Element => {
    if (depth > MAX_DEPTH) throw new Malformed(`nested deeper than ${MAX_DEPTH} elements`);
    const open = /^<([A-Za-z][A-Za-z0-9._-]*)\s*(\/?)>/.exec(text.slice(at, at + 64));
    if (!open)
      throw new Malformed(text.startsWith("<!", at) ? "a DTD, comment or CDATA section" : text.startsWith("<?", at) ? "a processing instruction" : `an element expected at ${at}`);
    at += open[0].length;
    const node: Element = { name: open[1]!, children: [] };
    if (open[2]) return node;
    for (;;) {
      const lt = text.indexOf("<", at);
      if (lt < 0) throw new Malformed(`<${node.name}> is never closed`);
      if (lt > at) node.children.push(textOf(text.slice(at, lt)));
      at = lt;
      if (text.startsWith("</", at)) {
        const close = `</${node.name}`;
        if (!text.startsWith(close, at)) throw new Malformed(`<${node.name}> closed by another element`);
        at += close.length;
        skipSpace();
        if (text[at] !== ">") throw new Malformed(`</${node.name}> is not closed`);
        at++;
        return node;
      }
      node.children.push(element(depth + 1));
    }
  };
  skipSpace();
  const root = element(0);
  skipSpace();
  if (at !== text.length) throw new Malformed("content after the document element");
  return root;
}

const elements = (node: Element): Element[] => {
  for (const child of node.children) if (typeof child === "string" && child.trim()) throw new Malformed(`text inside <${node.name}>`);
  return node.children.filter((c): c is Element => typeof c !== "string");
};

const only = (node: Element, name: string): Element => {
  const list = elements(node);
  if (list.length !== 1 || list[0]!.name !== name) throw new Malformed(`<${node.name}> must hold one <${name}>`);
  return list[0]!;
};

const textContent = (node: Element): string => {
  if (node.children.some((c) => typeof c !== "string")) throw new Malformed(`an element inside <${node.name}>`);
  return node.children.join("");
};

function readValue(node: Element): XmlRpcValue {
  // A <value> with text only (or nothing) is a string (the spec's default type).
  if (node.children.every((c) => typeof c === "string")) return node.children.join("");
  const typed = only(node, elements(node)[0]?.name ?? "");
  switch (typed.name) {
    case "int":
    case "i4":
    case "i8": {
      const digits = textContent(typed).trim();
      if (!/^[+-]?[0-9]{1,19}$/.test(digits)) throw new Malformed(`"${digits.slice(0, 40)}" is not an integer`);
      const number = Number(digits);
      if (!Number.isSafeInteger(number)) throw new Malformed(`${digits} is beyond what a number holds exactly`);
      return number;
    }
    case "boolean": {
      const flag = textContent(typed).trim();
      if (flag !== "0" && flag !== "1") throw new Malformed(`"${flag.slice(0, 40)}" is not a boolean`);
      return flag === "1";
    }
    case "double": {
      const digits = textContent(typed).trim();
      if (!/^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(digits)) throw new Malformed(`"${digits.slice(0, 40)}" is not a double`);
      return Number(digits);
    }
    case "string":
      return textContent(typed);
    case "dateTime.iso8601":
      return textContent(typed).trim();
    case "nil":
      if (typed.children.length) throw new Malformed("<nil> must be empty");
      return null;
    case "base64": {
      const text = textContent(typed).replace(/[ \t\r\n]/g, "");
      if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) throw new Malformed("<base64> that is not base64");
      return new Uint8Array(fromBase64(text));
    }
    case "array":
      return elements(only(typed, "data")).map((item) => {
        if (item.name !== "value") throw new Malformed("an <array> item that is not a <value>");
        return readValue(item);
      });
    case "struct": {
      const struct: { [name: string]: XmlRpcValue } = Object.create(null);
      for (const member of elements(typed)) {
        const parts = member.name === "member" ? elements(member) : [];
        if (parts.length !== 2 || parts[0]!.name !== "name" || parts[1]!.name !== "value") throw new Malformed("a <struct> member that is not <name> then <value>");
        struct[textContent(parts[0]!)] = readValue(parts[1]!);
      }
      return struct;
    }
    default:
      throw new Malformed(`an unknown type <${typed.name}>`);
  }
}

/**
 * Reads a `methodResponse`: one param (its value), or a fault struct with
 * `faultCode` and `faultString` (Odoo's codes: 1 an application error,
 * with the Python traceback as the string, 2 a warning or UserError, 3
 * AccessDenied, 4 AccessError). Anything else is `malformed`, with why.
 */
export function decodeMethodResponse(text: string): MethodResponse {
  if (text.length > MAX_RESPONSE_CHARS) return { kind: "malformed", reason: `an answer over ${MAX_RESPONSE_CHARS} characters` };
  try {
    const root = parseDocument(text);
    if (root.name !== "methodResponse") throw new Malformed(`<${root.name}> where a <methodResponse> was expected`);
    const body = elements(root);
    if (body.length !== 1) throw new Malformed("a <methodResponse> must hold <params> or <fault>");
    if (body[0]!.name === "fault") {
      const fault = readValue(only(body[0]!, "value"));
      const code = isStruct(fault) ? fault.faultCode : undefined;
      const message = isStruct(fault) ? fault.faultString : undefined;
      if ((typeof code !== "number" && typeof code !== "string") || typeof message !== "string") throw new Malformed("a <fault> without faultCode and faultString");
      return { kind: "fault", code, message };
    }
    if (body[0]!.name !== "params") throw new Malformed(`<${body[0]!.name}> in a <methodResponse>`);
    return { kind: "value", value: readValue(only(only(body[0]!, "param"), "value")) };
  } catch (error) {
    if (error instanceof Malformed) return { kind: "malformed", reason: error.message };
    throw error;
  }
}

function isStruct(value: XmlRpcValue): value is { [name: string]: XmlRpcValue } {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array);
}
