/**
 * Why a TLS connection to an SMTP relay failed. workerd tells the Worker
 * only "internal error; reference = …", "proxy request failed …" or
 * "Stream was cancelled." (node:tls in workerd is built on the same sockets
 * and says the same), so after a failure a second, plaintext connection
 * asks the server itself: it says whether it greets in plaintext, offers
 * and accepts STARTTLS, and answers a TLS 1.2 ClientHello with an alert, an
 * old version or its certificate chain, which TLS 1.2 sends unencrypted.
 * The chain is read with node:crypto's X509Certificate (name, dates,
 * self-signed, order); when all of that is fine yet the real handshake
 * failed, the issuer is one the platform does not trust (a private CA, or a
 * missing intermediate). Nothing is completed or trusted: the connection is
 * closed after the Certificate message. It runs only after a failure, and
 * costs one more connection.
 *
 * Written here because no library does it in Workers: the TLS records it
 * reads and writes are the ClientHello (RFC 5246 7.4.1.2) and the
 * ServerHello, Certificate and Alert messages that come back.
 */
import { connect } from "cloudflare:sockets";
import { X509Certificate } from "node:crypto";

export type TlsFailureCause =
  | "connect_failed"
  | "no_greeting"
  | "starttls_not_offered"
  | "starttls_refused"
  | "plaintext_port"
  | "not_tls"
  | "tls_version"
  | "handshake_failure"
  | "certificate_expired"
  | "certificate_not_yet_valid"
  | "name_mismatch"
  | "self_signed"
  | "bad_chain"
  | "untrusted_issuer"
  | "unknown";

export interface TlsDiagnosis {
  cause: TlsFailureCause;
  detail: string;
}

export interface TlsTarget {
  host: string;
  port: number;
  /** Implicit TLS, or STARTTLS after EHLO. */
  mode: "tls" | "starttls";
  helo: string;
  timeoutMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const ALERTS: Record<number, string> = {
  0: "close_notify",
  10: "unexpected_message",
  40: "handshake_failure",
  42: "bad_certificate",
  43: "unsupported_certificate",
  47: "illegal_parameter",
  48: "unknown_ca",
  50: "decode_error",
  70: "protocol_version",
  71: "insufficient_security",
  80: "internal_error",
  112: "unrecognized_name",
};
const VERSIONS: Record<number, string> = { 768: "SSL 3.0", 769: "TLS 1.0", 770: "TLS 1.1" };

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const extension = (type: number, body: number[]) => [...u16(type), ...u16(body.length), ...body];

/** An IP host gets no SNI (RFC 6066 §3 allows host names only) and is matched against the certificate's IP entries, not its names. */
export function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(?:\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/** A TLS 1.2 ClientHello: without `supported_versions`, so the server cannot choose 1.3 (which would encrypt its certificate). */
function clientHello(host: string): Uint8Array {
  const ciphers = [0xc02f, 0xc030, 0xc02b, 0xc02c, 0xcca8, 0xcca9, 0xc013, 0xc014, 0xc009, 0xc00a, 0x009c, 0x009d, 0x002f, 0x0035, 0x000a];
  const extensions: number[] = [];
  if (!isIpLiteral(host)) {
    const name = [...encoder.encode(host)];
    const entry = [0, ...u16(name.length), ...name];
    extensions.push(...extension(0x0000, [...u16(entry.length), ...entry])); // server_name
  }
  extensions.push(...extension(0x000a, [0, 6, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18])); // groups: x25519, P-256, P-384
  extensions.push(...extension(0x000b, [1, 0])); // uncompressed points
  const signatures = [0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201];
  extensions.push(...extension(0x000d, [...u16(signatures.length * 2), ...signatures.flatMap(u16)]));
  extensions.push(...extension(0xff01, [0])); // renegotiation_info
  const random = [...crypto.getRandomValues(new Uint8Array(32))];
  const body = [0x03, 0x03, ...random, 0, ...u16(ciphers.length * 2), ...ciphers.flatMap(u16), 1, 0, ...u16(extensions.length), ...extensions];
  const handshake = [0x01, ...u24(body.length), ...body];
  return new Uint8Array([0x16, 0x03, 0x01, ...u16(handshake.length), ...handshake]);
}

/** Reads from a socket with a deadline: null when the time runs out, `done` at the end of the stream. */
class TimedReader {
  private pending: Promise<ReadableStreamReadResult<Uint8Array> | { done: true; value?: undefined }> | null = null;
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async read(ms: number) {
    this.pending ??= this.reader.read().catch(() => ({ done: true as const }));
    let timer: ReturnType<typeof setTimeout> | null = null;
    const result = await Promise.race([this.pending, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))]);
    if (timer !== null) clearTimeout(timer);
    if (result) this.pending = null;
    return result;
  }
}

/** One SMTP reply (up to its last line), or null. */
async function smtpReply(reader: TimedReader, ms: number): Promise<string | null> {
  let text = "";
  for (;;) {
    const read = await reader.read(ms);
    if (!read || read.done) return text || null;
    text += decoder.decode(read.value);
    const last = text.split("\r\n").filter(Boolean).at(-1) ?? "";
    if (/^\d{3} /.test(last)) return text;
  }
}

interface ServerFlight {
  version: number | null;
  certificates: Uint8Array[] | null;
  alert: number | null;
  closed: boolean;
  /** What came back when it was not TLS at all. */
  plaintext: string | null;
}

/** The server's answer to the ClientHello: an alert, the ServerHello's version, the Certificate chain. */
async function serverFlight(reader: TimedReader, ms: number): Promise<ServerFlight> {
  const flight: ServerFlight = { version: null, certificates: null, alert: null, closed: false, plaintext: null };
  const deadline = Date.now() + ms;
  let buffer = new Uint8Array(0);
  const handshake: number[] = [];
  const need = async (n: number) => {
    while (buffer.length < n) {
      const read = await reader.read(Math.max(1, deadline - Date.now()));
      if (!read) return false;
      if (read.done) {
        flight.closed = true;
        return false;
      }
      const next = new Uint8Array(buffer.length + read.value.length);
      next.set(buffer);
      next.set(read.value, buffer.length);
      buffer = next;
    }
    return true;
  };
  for (;;) {
    if (!(await need(5))) return flight;
    const type = buffer[0]!;
    if (type !== 0x15 && type !== 0x16) {
      flight.plaintext = decoder.decode(buffer.slice(0, 120));
      return flight;
    }
    const length = (buffer[3]! << 8) | buffer[4]!;
    if (length > 1 << 15 || !(await need(5 + length))) return flight;
    const fragment = buffer.slice(5, 5 + length);
    buffer = buffer.slice(5 + length);
    if (type === 0x15) {
      flight.alert = fragment[1] ?? null;
      return flight;
    }
    handshake.push(...fragment);
    for (let i = 0; handshake.length - i >= 4; ) {
      const size = (handshake[i + 1]! << 16) | (handshake[i + 2]! << 8) | handshake[i + 3]!;
      if (handshake.length - i - 4 < size) break;
      const message = handshake.slice(i + 4, i + 4 + size);
      if (handshake[i] === 2) flight.version = (message[0]! << 8) | message[1]!;
      if (handshake[i] === 11) {
        const certificates: Uint8Array[] = [];
        for (let j = 3; j + 3 <= message.length; ) {
          const certificateLength = (message[j]! << 16) | (message[j + 1]! << 8) | message[j + 2]!;
          certificates.push(new Uint8Array(message.slice(j + 3, j + 3 + certificateLength)));
          j += 3 + certificateLength;
        }
        flight.certificates = certificates;
        return flight;
      }
      if (handshake[i] === 14) return flight; // ServerHelloDone without a certificate
      i += 4 + size;
    }
  }
}

const oneLine = (text: string) => text.replace(/\n/g, ", ");

/** What is wrong with a certificate chain the platform refused, most telling first. */
function judgeChain(ders: Uint8Array[], host: string, now: number): TlsDiagnosis {
  const chain = ders.map((der) => new X509Certificate(der));
  const leaf = chain[0]!;
  const problems: TlsDiagnosis[] = [];
  if (Date.parse(leaf.validTo) < now) problems.push({ cause: "certificate_expired", detail: `the server's certificate expired on ${leaf.validTo}` });
  if (Date.parse(leaf.validFrom) > now) problems.push({ cause: "certificate_not_yet_valid", detail: `the server's certificate is valid only from ${leaf.validFrom}` });
  const nameMatches = isIpLiteral(host) ? leaf.checkIP(host) !== undefined : leaf.checkHost(host) !== undefined;
  if (!nameMatches) problems.push({ cause: "name_mismatch", detail: `the server's certificate is for ${leaf.subjectAltName ?? oneLine(leaf.subject)}, not ${host}` });
  const selfSigned = leaf.checkIssued(leaf) && leaf.verify(leaf.publicKey);
  if (selfSigned) problems.push({ cause: "self_signed", detail: `the server's certificate is self-signed (${oneLine(leaf.subject)})` });
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) {
      problems.push({ cause: "bad_chain", detail: `certificate ${i} of the chain the server sent is not signed by certificate ${i + 1}` });
    }
  }
  if (!problems.length) {
    // Name, dates and chain are right, yet the handshake failed: the issuer is not trusted.
    const top = chain.at(-1)!;
    const root = top.checkIssued(top) ? top.subject : top.issuer;
    problems.push({
      cause: "untrusted_issuer",
      detail: `the server's certificate chain ends at "${oneLine(root)}", which is not a trusted root (a private CA, or a missing intermediate certificate)`,
    });
  }
  return { cause: problems[0]!.cause, detail: problems.map((p) => p.detail).join("; ") };
}

/** Names the cause of a failed TLS connection (implicit TLS or STARTTLS). Never throws. */
export async function diagnoseTls(target: TlsTarget, now = Date.now()): Promise<TlsDiagnosis> {
  let socket: Socket;
  try {
    socket = connect({ hostname: target.host, port: target.port }, { secureTransport: "off", allowHalfOpen: false });
  } catch (error) {
    return { cause: "connect_failed", detail: `cannot connect to ${target.host}:${target.port}: ${error instanceof Error ? error.message : String(error)}` };
  }
  const deadline = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), target.timeoutMs));
  try {
    const opened = await Promise.race([socket.opened.then(() => "open" as const).catch(() => "refused" as const), deadline]);
    if (opened !== "open")
      return { cause: "connect_failed", detail: `cannot connect to ${target.host}:${target.port}${opened === "timeout" ? ` within ${target.timeoutMs} ms` : ""}` };
    const reader = new TimedReader(socket.readable.getReader());
    const writer = socket.writable.getWriter();
    if (target.mode === "starttls") {
      const greeting = await smtpReply(reader, target.timeoutMs);
      if (!greeting?.startsWith("220")) return { cause: "no_greeting", detail: `the server sent no SMTP greeting (${JSON.stringify(greeting?.slice(0, 80) ?? "")})` };
      await writer.write(encoder.encode(`EHLO ${target.helo}\r\n`));
      const ehlo = await smtpReply(reader, target.timeoutMs);
      if (!ehlo || !/^250[ -]STARTTLS\b/im.test(ehlo)) return { cause: "starttls_not_offered", detail: "the server does not offer STARTTLS" };
      await writer.write(encoder.encode("STARTTLS\r\n"));
      const ready = await smtpReply(reader, target.timeoutMs);
      if (!ready?.startsWith("220")) return { cause: "starttls_refused", detail: `the server refused STARTTLS: ${ready?.trim() ?? "no answer"}` };
    }
    await writer.write(clientHello(target.host));
    const flight = await serverFlight(reader, target.timeoutMs);
    if (flight.plaintext !== null) {
      const line = flight.plaintext.split("\r\n")[0]!;
      if (target.mode === "tls" && /^\d{3}[ -]/.test(line)) {
        return { cause: "plaintext_port", detail: `the server speaks plaintext SMTP on port ${target.port} ("${line}"): use security "starttls", or its implicit-TLS port` };
      }
      return { cause: "not_tls", detail: `the server did not answer the TLS handshake with TLS (${JSON.stringify(line)})` };
    }
    if (flight.alert !== null) {
      const name = ALERTS[flight.alert] ?? `alert ${flight.alert}`;
      return flight.alert === 70
        ? { cause: "tls_version", detail: `the server refused every TLS version offered (alert ${name}): it may speak only TLS 1.0/1.1, or only TLS 1.3` }
        : { cause: "handshake_failure", detail: `the server ended the TLS handshake with alert ${name}` };
    }
    if (flight.version !== null && flight.version < 0x0303) {
      return { cause: "tls_version", detail: `the server speaks only ${VERSIONS[flight.version] ?? `version ${flight.version.toString(16)}`}; TLS 1.2 or later is needed` };
    }
    if (!flight.certificates?.length) {
      return {
        cause: "handshake_failure",
        detail: flight.closed ? "the server closed the connection during the TLS handshake" : `no certificate from the server within ${target.timeoutMs} ms`,
      };
    }
    return judgeChain(flight.certificates, target.host, now);
  } catch (error) {
    return { cause: "unknown", detail: `the TLS failure could not be diagnosed: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    socket.close().catch(() => {});
  }
}
