/**
 * Vitest global setup (Node): a real Postfix (the Debian package) on
 * loopback, as a private instance under a fresh temp dir (its own
 * config_directory, queue_directory, data_directory, Maildir and log),
 * never touching /etc/postfix or a system instance. Tests send to it
 * through mailgate's own SMTP client and read what Postfix delivered
 * through a small HTTP control server.
 *
 * SMTP services (127.0.0.1, random high ports, by name):
 * - plain: plaintext, STARTTLS offered with the trusted test certificate,
 *   PIPELINING, no AUTH; relay allowed from 127.0.0.0/8;
 * - starttls: the same settings on its own port;
 * - tls: implicit TLS (smtpd_tls_wrappermode) with the trusted certificate;
 * - untrusted: STARTTLS with a self-signed certificate workerd does not trust;
 * - wrongname: STARTTLS with a certificate from the trusted CA for other.example only;
 * - implicit_untrusted: implicit TLS with the self-signed certificate.
 *
 * Every recipient domain is local: virtual(8) delivers everything into one
 * Maildir (adding Return-Path, Delivered-To and X-Original-To), except:
 * - local parts starting with `unknown`: 550 5.1.1 at RCPT (absent from
 *   virtual_mailbox_maps: "User unknown in virtual mailbox table");
 * - `bounce-later…`: accepted, then bounced (5.1.1) by a pipe(8) transport,
 *   so Postfix sends a real DSN to the envelope sender, into the same Maildir;
 * - `defer…`: 450 4.2.0 at RCPT.
 * As a strict real MTA would: a bare LF in DATA is refused (550 5.5.2, whole
 * message), and a Return-Path the client wrote is dropped (Postfix default).
 *
 * Control server (provided as postfix.control):
 * - GET /delivered?to=<address>[&wait=<ms>]: the messages delivered for
 *   that address (X-Original-To or Delivered-To, case-insensitive), each
 *   { file, raw, headers, python }; `?all` lists every message; `wait` polls
 *   until there is at least one;
 * - GET /log: the Postfix log; GET /queue: `postqueue -j` (one JSON object a line).
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { domainToASCII } from "node:url";
import selfsigned from "selfsigned";
import type { TestProject } from "vitest/node";
import { alive, DAEMON_PATH, freePorts, pidIn, readUntil, run, stopProcess, sweepLeftovers } from "./daemons.ts";
import { pythonParse } from "./mail-servers.ts";

const _PATH = DAEMON_PATH;
const PREFIX = "mailgate-postfix-";
const SERVICES = ["plain", "starttls", "tls", "untrusted", "wrongname", "implicit_untrusted", "oauth"] as const;
type ServiceName = (typeof SERVICES)[number];

interface Delivered {
  file: string;
  /** The Maildir file as Postfix wrote it (LF line ends), read as latin1. */
  raw: string;
  /** The header fields in order, unfolded, read as UTF-8 (SMTPUTF8 addresses are raw UTF-8). */
  headers: [string, string][];
  /** Python's email package (policy.SMTP) on the message with CRLF line ends. */
  python: unknown;
}

function postfixInstalled(): boolean {
  return run("sh", ["-c", "command -v postfix"], { allowFailure: true }).status === 0;
}

function masterPid(dir: string): number | null {
  return pidIn(join(dir, "queue/pid/master.pid"));
}

/** Stops the instance's master (as `postfix stop` does, without its 1-second polls) and waits for it. */
async function stopMaster(dir: string): Promise<void> {
  await stopProcess(masterPid(dir));
}

function uid(user: string): { uid: number; gid: number } {
  const ids = run("id", [user], { allowFailure: true });
  const u = /uid=(\d+)/.exec(ids.stdout)?.[1];
  const g = /gid=(\d+)/.exec(ids.stdout)?.[1];
  if (!u || !g) throw new Error(`no ${user} user: is the postfix package installed? (apt-get install -y postfix)`);
  return { uid: Number(u), gid: Number(g) };
}

/** The certificates: the trusted leaf from test/node/tls.ts, a leaf for other.example from the same CA, and a self-signed one. */
async function certificates(dir: string) {
  const { NODE_EXTRA_CA_CERTS: caPath, MAILGATE_TEST_TLS_CERT: certPath, MAILGATE_TEST_TLS_KEY: keyPath, MAILGATE_TEST_TLS_CA_KEY: caKeyPath } = process.env;
  if (!caPath || !certPath || !keyPath || !caKeyPath) throw new Error("the test CA is missing: load the workers plugin through loadWorkersPlugin (test/node/tls.ts)");
  const notAfterDate = new Date(Date.now() + 7 * 24 * 3600_000);
  const leafExtensions = (altNames: { type: 2; value: string }[] | ({ type: 2; value: string } | { type: 7; ip: string })[]) => [
    { name: "basicConstraints" as const, cA: false },
    { name: "keyUsage" as const, digitalSignature: true, keyEncipherment: true },
    { name: "extKeyUsage" as const, serverAuth: true },
    { name: "subjectAltName" as const, altNames },
  ];
  const [wrongname, untrusted] = await Promise.all([
    selfsigned.generate([{ name: "commonName", value: "other.example" }], {
      keySize: 2048,
      algorithm: "sha256",
      notAfterDate,
      ca: { key: readFileSync(caKeyPath, "utf8"), cert: readFileSync(caPath, "utf8") },
      extensions: leafExtensions([{ type: 2, value: "other.example" }]),
    }),
    selfsigned.generate([{ name: "commonName", value: "localhost" }], {
      keySize: 2048,
      algorithm: "sha256",
      notAfterDate,
      extensions: leafExtensions([
        { type: 2, value: "localhost" },
        { type: 7, ip: "127.0.0.1" },
      ]),
    }),
  ]);
  const tls = join(dir, "tls");
  mkdirSync(tls, { mode: 0o700 });
  const write = (name: string, text: string) => {
    writeFileSync(join(tls, name), text, { mode: 0o600 });
    return join(tls, name);
  };
  return {
    trusted: { cert: write("trusted.pem", readFileSync(certPath, "utf8")), key: write("trusted.key", readFileSync(keyPath, "utf8")) },
    wrongname: { cert: write("wrongname.pem", wrongname.cert), key: write("wrongname.key", wrongname.private) },
    untrusted: { cert: write("untrusted.pem", untrusted.cert), key: write("untrusted.key", untrusted.private) },
  };
}

function mainCf(dir: string, certs: Awaited<ReturnType<typeof certificates>>, mailbox: { uid: number; gid: number }): string {
  const etc = join(dir, "etc");
  return `# A private Postfix for mailgate's tests (test/node/postfix.ts).
compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}

myhostname = postfix.test
mydomain = postfix.test
myorigin = $myhostname
mydestination =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# No DNS at all.
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
# Mail from 127.0.0.1 is treated like mail from anywhere else: no header rewriting.
local_header_rewrite_clients =
alias_maps =
alias_database =
biff = no
smtputf8_enable = yes

# Every domain is local, delivered by virtual(8) into one Maildir.
virtual_mailbox_domains = regexp:${etc}/virtual_domains
virtual_mailbox_maps = regexp:${etc}/virtual_mailboxes
virtual_mailbox_base = ${dir}/mail
virtual_uid_maps = static:${mailbox.uid}
virtual_gid_maps = static:${mailbox.gid}
virtual_mailbox_limit = 0
message_size_limit = 52428800
transport_maps = regexp:${etc}/transport

smtpd_banner = $myhostname ESMTP Postfix (mailgate tests)
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access regexp:${etc}/recipient_access
smtpd_forbid_bare_newline = reject
smtpd_forbid_bare_newline_exclusions =
smtpd_tls_security_level = may
smtpd_tls_cert_file = ${certs.trusted.cert}
smtpd_tls_key_file = ${certs.trusted.key}
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes

# Fast, for tests.
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_junk_command_limit = 1000
in_flow_delay = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 0
`;
}

function masterCf(ports: Record<ServiceName, number>, certs: Awaited<ReturnType<typeof certificates>>, bouncer: string, saslSocket: string): string {
  const smtpd = (name: ServiceName, ...options: string[]) =>
    `127.0.0.1:${ports[name]} inet n - n - - smtpd\n  -o syslog_name=postfix/${name}\n${options.map((o) => `  -o ${o}\n`).join("")}`;
  const wrap = ["smtpd_tls_wrappermode=yes", "smtpd_tls_security_level=encrypt"];
  // The services with a bad certificate issue and accept no session tickets: all smtpd processes share tlsmgr's
  // ticket keys, and a client that resumes a session it got from another service (same 127.0.0.1) would skip
  // the certificate check altogether, as TLS resumption does.
  const cert = (c: { cert: string; key: string }) => [`smtpd_tls_cert_file=${c.cert}`, `smtpd_tls_key_file=${c.key}`, "tls_session_ticket_cipher="];
  // Submission as Gmail's and Microsoft 365's: TLS first, then AUTH (Dovecot's), and only authenticated clients relay.
  const submission = [
    "smtpd_tls_security_level=encrypt",
    "smtpd_sasl_auth_enable=yes",
    "smtpd_sasl_type=dovecot",
    `smtpd_sasl_path=${saslSocket}`,
    "smtpd_sasl_authenticated_header=yes",
    "smtpd_client_restrictions=permit_sasl_authenticated,reject",
    "smtpd_relay_restrictions=permit_sasl_authenticated,reject",
  ];
  return `# service type private unpriv chroot wakeup maxproc command
${smtpd("plain")}${smtpd("starttls")}${smtpd("tls", ...wrap)}${smtpd("untrusted", ...cert(certs.untrusted))}${smtpd("wrongname", ...cert(certs.wrongname))}${smtpd("implicit_untrusted", ...wrap, ...cert(certs.untrusted))}${smtpd("oauth", ...submission)}pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
bouncelater unix -      n       n       -       -       pipe
  flags=q user=nobody argv=${bouncer}
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;
}

const TABLES = {
  // Every domain is a virtual mailbox domain.
  virtual_domains: "/./ OK\n",
  // Every address has the one Maildir, except local parts starting with "unknown"
  // (and the "@domain" form, so those stay unknown).
  virtual_mailboxes: "!/^(unknown|@)/ maildir/\n",
  // Not the error(8) transport: smtpd refuses recipients routed there at RCPT time.
  // A pipe(8) to BOUNCER instead, which fails permanently after taking the message.
  transport: "/^bounce-later/ bouncelater:\n",
  recipient_access: "/^defer/ 450 4.2.0 Mailbox temporarily unavailable, try again later\n",
};

/** The bounce-later transport: pipe(8) takes its status from the "5.1.1" and the exit code (EX_NOUSER). */
const BOUNCER = `#!/bin/sh
cat >/dev/null
echo "5.1.1 mailbox unavailable"
exit 67
`;

/** Reads one SMTP reply (all its lines). */
function readReply(socket: import("node:net").Socket | import("node:tls").TLSSocket, timeout = 5000): Promise<string> {
  // RFC 5321 4.2: the last line of a reply is the code and a space.
  return readUntil(socket, (text) => /(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(text), timeout);
}

/** Connects to a service, reads the greeting, says EHLO and QUIT: the instance answers. */
async function probe(port: number, implicitTls: boolean): Promise<void> {
  const socket = implicitTls ? tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false, servername: "localhost" }) : tcpConnect({ host: "127.0.0.1", port });
  try {
    const greeting = await readReply(socket);
    if (!greeting.startsWith("220 ")) throw new Error(`unexpected greeting: ${greeting}`);
    socket.write("EHLO probe.test\r\n");
    const ehlo = await readReply(socket);
    if (!ehlo.startsWith("250")) throw new Error(`unexpected EHLO reply: ${ehlo}`);
    if (!implicitTls && !/^250[- ]STARTTLS\r$/m.test(ehlo)) throw new Error(`STARTTLS is not offered: ${ehlo}`);
    socket.write("QUIT\r\n");
    await readReply(socket);
  } finally {
    socket.destroy();
  }
}

function unfoldHeaders(raw: string): [string, string][] {
  const end = raw.search(/\r?\n\r?\n/);
  const head = end === -1 ? raw : raw.slice(0, end);
  const headers: [string, string][] = [];
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && headers.length) headers[headers.length - 1]![1] += line;
    else {
      const colon = line.indexOf(":");
      if (colon > 0) headers.push([line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+/, "")]);
    }
  }
  return headers;
}

/** An address as it may appear in X-Original-To/Delivered-To, for comparison: no <>, lower case, an IDN domain in its A-label form. */
function addressKey(value: string): string {
  const address = value.trim().replace(/^<(.*)>$/, "$1");
  const at = address.lastIndexOf("@");
  const domain = at === -1 ? "" : address.slice(at + 1);
  return (at === -1 ? address : `${address.slice(0, at)}@${domainToASCII(domain) || domain}`).toLowerCase();
}

function unquoted(address: string): string {
  const at = address.lastIndexOf("@");
  const local = at === -1 ? address : address.slice(0, at);
  const match = /^"((?:[^"\\]|\\.)*)"$/.exec(local);
  return match ? `${match[1]!.replace(/\\(.)/g, "$1")}${address.slice(at)}` : address;
}

export default async function setup(project: TestProject) {
  if (!postfixInstalled()) {
    throw new Error("Postfix is not installed: the tests need the Debian package (run `apt-get install -y postfix` as root, as .ci/run does)");
  }
  if (process.getuid?.() !== 0) throw new Error("the Postfix test instance must be started as root (postfix start)");
  await sweepLeftovers(PREFIX, stopMaster);

  const dir = mkdtempSync(join(tmpdir(), PREFIX));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "owner.pid"), String(process.pid));
  const etc = join(dir, "etc");
  mkdirSync(etc);
  mkdirSync(join(dir, "queue"), { mode: 0o755 });
  const mailbox = uid("nobody");
  const maildir = join(dir, "mail");
  mkdirSync(maildir, { mode: 0o755 });
  chownSync(maildir, mailbox.uid, mailbox.gid);
  uid("postfix");
  for (const [name, text] of Object.entries(TABLES)) writeFileSync(join(etc, name), text);
  const bouncer = join(etc, "bounce-later");
  writeFileSync(bouncer, BOUNCER, { mode: 0o755 });
  const certs = await certificates(dir);
  writeFileSync(join(etc, "main.cf"), mainCf(dir, certs, mailbox));
  // Dovecot's auth service listens here once test/node/dovecot.ts has started it.
  const saslSocket = join(dir, "dovecot-auth");
  process.env.MAILGATE_TEST_DOVECOT_AUTH_SOCKET = saslSocket;

  const postfix = (...args: string[]) => run("postfix", ["-c", etc, ...args], { allowFailure: true });
  const log = () => (existsSync(join(dir, "maillog")) ? readFileSync(join(dir, "maillog"), "utf8") : "");
  const cleanup = async () => {
    await stopMaster(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  // The master dies with this process even when the teardown does not run.
  const onExit = () => {
    const pid = masterPid(dir);
    if (pid !== null && alive(pid)) process.kill(pid, "SIGTERM");
  };
  process.once("exit", onExit);

  let ports: Record<ServiceName, number> | undefined;
  try {
    // A port found free may be taken before the master binds it: try again with others.
    for (let attempt = 1; !ports; attempt++) {
      const candidate = Object.fromEntries((await freePorts(SERVICES.length)).map((p, i) => [SERVICES[i], p])) as Record<ServiceName, number>;
      writeFileSync(join(etc, "master.cf"), masterCf(candidate, certs, bouncer, saslSocket));
      // Postfix waits (in 300 ms steps, up to 2 s) for files changed within the last second to settle.
      const past = new Date(Date.now() - 60_000);
      for (const name of readdirSync(etc)) utimesSync(join(etc, name), past, past);
      const started = postfix("start");
      if (started.status === 0) ports = candidate;
      else if (attempt >= 3 || !/address already in use/i.test(log() + started.stderr)) {
        throw new Error(`postfix -c ${etc} start failed: ${started.stdout}${started.stderr}\n--- ${dir}/maillog:\n${log()}`);
      }
    }
    const ready = ports;
    await Promise.all(SERVICES.filter((name) => name !== "oauth").map((name) => probe(ready[name], name === "tls" || name === "implicit_untrusted")));
  } catch (error) {
    const text = log();
    await cleanup();
    process.off("exit", onExit);
    throw new Error(`the Postfix test instance did not start: ${(error as Error).message}\n--- maillog:\n${text}`);
  }

  const parsed = new Map<string, Delivered & { mtime: number }>();
  const delivered = (): Delivered[] => {
    const files: string[] = [];
    for (const sub of ["new", "cur"]) {
      const path = join(maildir, "maildir", sub);
      if (existsSync(path)) files.push(...readdirSync(path).map((f) => join(path, f)));
    }
    const items = files.map((file) => {
      let item = parsed.get(file);
      if (!item) {
        const bytes = readFileSync(file);
        const raw = bytes.toString("latin1");
        const python = pythonParse(Buffer.from(raw.replace(/\r?\n/g, "\r\n"), "latin1"));
        item = { file, raw, headers: unfoldHeaders(bytes.toString("utf8")), python, mtime: statSync(file).mtimeMs };
        parsed.set(file, item);
      }
      return item;
    });
    // In delivery order (Maildir names start with the time in seconds only).
    return items.sort((a, b) => a.mtime - b.mtime || a.file.localeCompare(b.file)).map(({ mtime: _, ...item }) => item);
  };
  const forAddress = (to: string | null) => {
    const all = delivered();
    if (to === null) return all;
    const wanted = new Set([addressKey(to), addressKey(unquoted(to))]);
    return all.filter((m) =>
      m.headers.some(([name, value]) => /^(x-original-to|delivered-to)$/i.test(name) && (wanted.has(addressKey(value)) || wanted.has(addressKey(unquoted(value))))),
    );
  };

  const control: Server = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const send = (status: number, body: unknown) => {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      response.writeHead(status, { "Content-Type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json" }).end(text);
    };
    try {
      switch (url.pathname) {
        case "/delivered": {
          const to = url.searchParams.get("to");
          if (to === null && !url.searchParams.has("all")) return send(400, { error: "give ?to=<address> or ?all" });
          const deadline = Date.now() + Math.min(Number(url.searchParams.get("wait") ?? 0) || 0, 60_000);
          let items = forAddress(to);
          while (!items.length && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 100));
            items = forAddress(to);
          }
          return send(200, items);
        }
        case "/log":
          return send(200, log());
        case "/queue":
          return send(200, run("postqueue", ["-c", etc, "-j"], { allowFailure: true }).stdout);
        default:
          return send(404, { error: "unknown path" });
      }
    } catch (error) {
      return send(500, { error: String(error) });
    }
  });
  await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", resolve));

  project.provide("postfix", {
    ports: ports!,
    control: `http://127.0.0.1:${(control.address() as AddressInfo).port}`,
    dir,
  });
  return async () => {
    const closed = new Promise<void>((resolve) => control.close(() => resolve()));
    control.closeAllConnections();
    await closed;
    await cleanup();
    process.off("exit", onExit);
  };
}
