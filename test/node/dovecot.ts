/**
 * Vitest global setup (Node): a real Dovecot (the Debian packages
 * dovecot-imapd and dovecot-pop3d) on loopback, as a private instance
 * under a fresh temp dir (its own config, base_dir, state, log and
 * mailboxes), never touching /etc/dovecot or a system instance; and a
 * local OAuth 2.0 provider that plays Google's and Microsoft's token
 * endpoints and the introspection endpoint Dovecot asks, so XOAUTH2 logins
 * go the whole real way: mailgate exchanges a refresh token for an access
 * token, logs in with it, and Dovecot asks the provider whether it is good.
 *
 * Services (127.0.0.1, random high ports, provided as dovecot.ports):
 * imap (STARTTLS offered), imaps (implicit TLS), pop3 (STLS offered),
 * pop3s (implicit TLS), all with the trusted test certificate
 * (test/node/tls.ts: localhost and 127.0.0.1). Plaintext logins are allowed
 * without TLS too. Mechanisms: PLAIN and LOGIN (IMAP LOGIN, POP3 USER/PASS)
 * for users with a password, XOAUTH2 (only: see auth_mechanisms) for anyone the
 * provider issued a token to (passdb oauth2, introspection by POST).
 * A failed login answers within half a second (auth_failure_delay = 0;
 * Dovecot 2.3 still waits for its failure queue's tick), and no login waits
 * for an earlier failure (the anvil auth penalty is off).
 *
 * Users (provided as dovecot.users, name → password): alice, bob and carol;
 * gmail-user and outlook-user log in with OAuth only (dovecot.oauth gives
 * each provider's client and a refresh token for them). Every user has its
 * own Maildir (`<dir>/mail/<user>/Maildir`, owned by nobody) and its own
 * passdb and userdb files (etc/passwd.d/<user>, etc/users.d/<user>), so a
 * user created while Dovecot runs is known at once. Tests that want a
 * mailbox of their own create a user (POST /users).
 *
 * When process.env.MAILGATE_TEST_DOVECOT_AUTH_SOCKET is set (by
 * test/node/postfix.ts, which runs first), Dovecot's auth service also
 * listens there: Postfix's `oauth` service authenticates its clients
 * (XOAUTH2 included) through it (smtpd_sasl_type = dovecot).
 *
 * Control server (provided as dovecot.control; JSON in and out):
 * - POST /users {name?, password?: string | false}: a new user (a fresh
 *   name unless given; a random password unless given; `false` for OAuth
 *   only) → { user, password, oauth: { google, microsoft } }, each a client
 *   and a refresh token for this user;
 * - POST /mailbox/<user>/messages?folder=INBOX&flags=\Seen%20\Flagged&date=<ISO>:
 *   the request body (raw MIME, taken as bytes) becomes one message in the
 *   folder (created if needed), with these flags (none: new/, "recent") and
 *   this received date (file mtime) → { file };
 * - POST /mailbox/<user>/fill {count, folder?, seen?, size?}: `count`
 *   generated messages ("Message <i> of <count>", Message-ID
 *   <fill-<i>-<run>@dovecot.test>, at least `size` bytes), written straight
 *   into the Maildir: 10,000 take about a second → { count, message_ids: [first, last] };
 * - GET /mailbox/<user>/messages?folder=INBOX: what Dovecot shows (doveadm
 *   fetch): [{ uid, flags: string[], size, guid, message_id, subject }] in
 *   UID order; `?uidvalidity` adds it: { uidvalidity, messages };
 * - DELETE /mailbox/<user>/messages[?folder=]: expunges every message (of
 *   every folder unless one is given);
 * - GET /log: Dovecot's log.
 *
 * The OAuth provider (same server):
 * - POST /oauth/google/token: Google's refresh request
 *   (https://developers.google.com/identity/protocols/oauth2/web-server#offline):
 *   form-encoded grant_type=refresh_token, client_id, client_secret,
 *   refresh_token → { access_token, expires_in: 3599, scope, token_type: "Bearer" };
 *   errors as Google answers them (invalid_request, unsupported_grant_type,
 *   401 invalid_client, 400 invalid_grant "Token has been expired or revoked.");
 * - POST /oauth/microsoft/<tenant>/oauth2/v2.0/token: the Microsoft identity
 *   platform's (also `scope`, which must ask for outlook.office.com's IMAP,
 *   POP or SMTP permission) → { token_type, scope, expires_in, ext_expires_in,
 *   access_token, refresh_token }: a new refresh token each time (the old
 *   one stays valid); the access token is JWT-like and over 1 KB, as
 *   Microsoft's are (an SMTP client must send XOAUTH2 in two steps); errors
 *   with AADSTS codes, error_codes, trace and correlation ids as Microsoft's;
 * - POST /oauth/introspect: what Dovecot asks (RFC 7662: form token=…) →
 *   { active: true, username, scope, client_id, exp } or { active: false };
 * - POST /oauth/grants {provider, user}: another refresh token for a user;
 * - POST /oauth/revoke {refresh_token}: the user withdraws the grant: that
 *   token, every token rotated from it and their access tokens stop working
 *   (invalid_grant; introspection inactive);
 * - POST /oauth/expire {user?, access_token?}: access tokens (all, a user's,
 *   or one) expire early; refresh tokens stay good;
 * - POST /oauth/fail {status, body?, times?, refresh_token?}: the next
 *   `times` (default 1) token requests (only those with this refresh token
 *   when given: test files run side by side) answer this instead (an outage: 503);
 * - GET /oauth/log[?provider=&kind=token|introspect]: every request, in
 *   order: { at, kind, provider, tenant, content_type, form, status, answer };
 * - POST /oauth/reset: empties the log, drops access tokens and failures,
 *   and restores the provided grants (every test file shares the provider:
 *   prefer a user of one's own and filtering the log by refresh token).
 */
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { type AddressInfo, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import type { TestProject } from "vitest/node";
import { alive, DAEMON_PATH, freePorts, pidIn, readUntil, run, stopProcess, sweepLeftovers } from "./daemons.ts";

const PATH = DAEMON_PATH;
const PREFIX = "mailgate-dovecot-";
const SERVICES = ["imap", "imaps", "pop3", "pop3s"] as const;
type ServiceName = (typeof SERVICES)[number];
/** The mail user every mailbox belongs to: Dovecot refuses to run mail processes as root. */
const MAIL_ID = { uid: 65534, gid: 65534 };
const USERNAME = /^[a-z0-9][a-z0-9._@+-]{0,99}$/;

export const DOVECOT_USERS = { alice: "alice-secret", bob: "bob-secret", carol: "carol-secret" };
const OAUTH_USERS = { google: "gmail-user", microsoft: "outlook-user" } as const;
export const OAUTH_CLIENTS = {
  google: { client_id: "1234567890-mailgate.apps.googleusercontent.com", client_secret: "GOCSPX-mailgate-test-secret" },
  microsoft: { client_id: "6f1c2b9e-0d3a-4c55-9a8e-5e2f7b1d4c30", client_secret: "Mg~8Q~mailgate-test-secret" },
};
type Provider = keyof typeof OAUTH_CLIENTS;
const MICROSOFT_MAIL_SCOPES = ["https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/POP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send"];

/** Runs a command without blocking the event loop (the control server answers Dovecot's introspection meanwhile). */
function runAsync(command: string, args: string[]): Promise<{ stdout: string; stderr: string; status: number }> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: "utf8", env: { ...process.env, PATH }, timeout: 120_000, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      const status = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ stdout, stderr: stderr || (error && status === 1 && !stderr ? String(error.message) : stderr), status });
    });
  });
}

function installed(): boolean {
  return run("sh", ["-c", "command -v dovecot && command -v doveadm && test -x /usr/lib/dovecot/imap && test -x /usr/lib/dovecot/pop3"], { allowFailure: true }).status === 0;
}

function masterPid(dir: string): number | null {
  return pidIn(join(dir, "run/master.pid"));
}

/** Stops the instance's master (SIGTERM stops its children too) and waits for it. */
async function stopMaster(dir: string): Promise<void> {
  await stopProcess(masterPid(dir));
}

function dovecotConf(dir: string, ports: Record<ServiceName, number>, authSocket: string | undefined): string {
  const etc = join(dir, "etc");
  return `# A private Dovecot for mailgate's tests (test/node/dovecot.ts).
protocols = imap pop3
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
info_log_path = ${dir}/dovecot.log
instance_name = ${dir.slice(tmpdir().length + 1)}
listen = 127.0.0.1
shutdown_clients = yes

ssl = yes
ssl_cert = <${dir}/tls/cert.pem
ssl_key = <${dir}/tls/key.pem
disable_plaintext_auth = no
# XOAUTH2 alone for OAuth, as Microsoft 365 offers it: imapflow would choose OAUTHBEARER where offered, and the
# issue asks for AUTHENTICATE XOAUTH2 on IMAP too.
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
auth_verbose = yes
auth_cache_size = 0
# No auth penalty: after a failed login, anvil would delay every login from 127.0.0.1 (by 2 s, then up to 15 s).
# The auth process (user dovecot) cannot open a socket of mode 0, so it goes without.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}

mail_location = maildir:~/Maildir
mail_max_userip_connections = 1000
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = ${MAIL_ID.uid}
last_valid_uid = ${MAIL_ID.uid}

# Password users (PLAIN, LOGIN) first; anyone the OAuth provider vouches for with XOAUTH2.
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN ${etc}/passwd.d/%u
}
passdb {
  driver = oauth2
  mechanisms = xoauth2
  args = ${etc}/oauth2.conf.ext
}
userdb {
  driver = passwd-file
  args = ${etc}/users.d/%u
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${ports.imap}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${ports.imaps}
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${ports.pop3}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${ports.pop3s}
    ssl = yes
  }
}
${
  authSocket
    ? `# Postfix's SASL (test/node/postfix.ts, service oauth).
service auth {
  unix_listener ${authSocket} {
    mode = 0666
  }
}
`
    : ""
}`;
}

function oauth2Conf(control: string): string {
  return `# Tokens are checked with the local provider (RFC 7662 introspection), never cached.
introspection_mode = post
introspection_url = ${control}/oauth/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 10000
`;
}

/** Connects to a service and reads its greeting: the instance answers. */
async function probe(service: ServiceName, port: number): Promise<void> {
  const implicit = service === "imaps" || service === "pop3s";
  const socket = implicit ? tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false, servername: "localhost" }) : tcpConnect({ host: "127.0.0.1", port });
  try {
    const greeting = await readUntil(socket, (t) => t.endsWith("\r\n"), 2000);
    const expected = service.startsWith("imap") ? /^\* OK /.test(greeting) : /^\+OK /.test(greeting);
    if (!expected) throw new Error(`unexpected ${service} greeting: ${greeting}`);
  } finally {
    socket.destroy();
  }
}

const token = (prefix: string, bytes = 24) => `${prefix}${randomBytes(bytes).toString("base64url")}`;

/**
 * A Microsoft access token looks like a JWT of 1.5 KB or more (opaque to
 * clients): long enough that an SMTP client must send XOAUTH2 in two steps
 * (RFC 4954: an AUTH line with its initial response stays within 512 octets).
 */
function microsoftJwt(user: string, scope: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: "JWT", nonce: randomBytes(32).toString("base64url"), alg: "RS256", x5t: randomBytes(20).toString("base64url"), kid: randomBytes(20).toString("base64url") };
  const claims = {
    aud: "https://outlook.office.com",
    iss: "https://sts.windows.net/mailgate-test/",
    iat: now,
    nbf: now,
    exp: now + 3599,
    app_displayname: "mailgate",
    appid: OAUTH_CLIENTS.microsoft.client_id,
    oid: crypto.randomUUID(),
    puid: randomBytes(8).toString("hex").toUpperCase(),
    scp: scope
      .split(" ")
      .map((s) => s.replace("https://outlook.office.com/", ""))
      .join(" "),
    sid: crypto.randomUUID(),
    tid: crypto.randomUUID(),
    unique_name: user,
    upn: user,
    uti: randomBytes(16).toString("base64url"),
    ver: "1.0",
  };
  return `${part(header)}.${part(claims)}.${randomBytes(256).toString("base64url")}`;
}

interface Grant {
  id: string;
  provider: Provider;
  user: string;
  revoked: boolean;
}
interface AccessGrant {
  grant: Grant;
  expiresAt: number;
  scope: string;
  expired: boolean;
}
interface OAuthRequest {
  at: string;
  kind: "token" | "introspect";
  provider: Provider | null;
  tenant: string | null;
  content_type: string | null;
  form: Record<string, string>;
  status: number;
  answer: unknown;
}

/**
 * The local OAuth provider: grants (a user's consent to a client) with
 * their refresh tokens (Microsoft rotates them: every token of a grant
 * stays good until the grant is revoked), access tokens, and a log.
 */
function oauthProvider() {
  const refreshTokens = new Map<string, Grant>();
  const accessTokens = new Map<string, AccessGrant>();
  const log: OAuthRequest[] = [];
  const failures: { status: number; body: unknown; times: number; refreshToken: string | null }[] = [];

  const grant = (provider: Provider, user: string): string => {
    const refresh = provider === "google" ? token("1//0g", 48) : token("0.AXoA", 64);
    refreshTokens.set(refresh, { id: token("grant-", 8), provider, user, revoked: false });
    return refresh;
  };
  const defaults = { google: grant("google", OAUTH_USERS.google), microsoft: grant("microsoft", OAUTH_USERS.microsoft) };
  const defaultGrants = new Map([...refreshTokens].map(([t, g]) => [t, { ...g }]));

  const issue = (g: Grant, scope: string) => {
    const access = g.provider === "google" ? token("ya29.a0AfB_", 96) : microsoftJwt(g.user, scope);
    accessTokens.set(access, { grant: g, expiresAt: Date.now() + 3599_000, scope, expired: false });
    return access;
  };

  const microsoftError = (status: number, error: string, code: number, description: string) => {
    const now = new Date();
    const trace = crypto.randomUUID();
    const correlation = crypto.randomUUID();
    return {
      status,
      body: {
        error,
        error_description: `AADSTS${code}: ${description}\r\nTrace ID: ${trace}\r\nCorrelation ID: ${correlation}\r\nTimestamp: ${now
          .toISOString()
          .replace("T", " ")
          .replace(/\.\d+Z$/, "Z")}`,
        error_codes: [code],
        timestamp: now.toISOString().replace(/\.\d+Z$/, "Z"),
        trace_id: trace,
        correlation_id: correlation,
        error_uri: `https://login.microsoftonline.com/error?code=${code}`,
      },
    };
  };

  /** Google's token endpoint, refresh grant only (the one mailgate uses). */
  const google = (contentType: string | null, form: Record<string, string>): { status: number; body: unknown } => {
    const bad = (status: number, error: string, description?: string) => ({ status, body: description ? { error, error_description: description } : { error } });
    if (!/^application\/x-www-form-urlencoded\b/i.test(contentType ?? "")) return bad(400, "invalid_request", "Required parameter is missing: grant_type");
    if (!form.grant_type) return bad(400, "invalid_request", "Required parameter is missing: grant_type");
    if (form.grant_type !== "refresh_token") return bad(400, "unsupported_grant_type", `Invalid grant_type: ${form.grant_type}`);
    if (!form.client_id) return bad(400, "invalid_request", "Could not determine client ID from request.");
    if (form.client_id !== OAUTH_CLIENTS.google.client_id) return bad(401, "invalid_client", "The OAuth client was not found.");
    if (!form.client_secret) return bad(400, "invalid_request", "client_secret is missing.");
    if (form.client_secret !== OAUTH_CLIENTS.google.client_secret) return bad(401, "invalid_client", "Unauthorized");
    if (!form.refresh_token) return bad(400, "invalid_request", "Missing required parameter: refresh_token");
    const g = refreshTokens.get(form.refresh_token);
    if (!g || g.revoked || g.provider !== "google") return bad(400, "invalid_grant", "Token has been expired or revoked.");
    const scope = "https://mail.google.com/";
    return { status: 200, body: { access_token: issue(g, scope), expires_in: 3599, scope, token_type: "Bearer" } };
  };

  /** The Microsoft identity platform's v2.0 token endpoint, refresh grant only. */
  const microsoft = (contentType: string | null, form: Record<string, string>): { status: number; body: unknown } => {
    const missing = (name: string) => microsoftError(400, "invalid_request", 900144, `The request body must contain the following parameter: '${name}'.`);
    if (!/^application\/x-www-form-urlencoded\b/i.test(contentType ?? "")) return missing("grant_type");
    if (!form.grant_type) return missing("grant_type");
    if (form.grant_type !== "refresh_token") {
      return microsoftError(400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${form.grant_type}'.`);
    }
    if (!form.client_id) return missing("client_id");
    if (form.client_id !== OAUTH_CLIENTS.microsoft.client_id) {
      return microsoftError(
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${form.client_id}' was not found in the directory 'mailgate-test'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    if (!form.scope) return missing("scope");
    if (!form.refresh_token) return missing("refresh_token");
    if (!form.client_secret) return microsoftError(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    if (form.client_secret !== OAUTH_CLIENTS.microsoft.client_secret) {
      return microsoftError(
        401,
        "invalid_client",
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${form.client_id}'.`,
      );
    }
    const scopes = form.scope.split(/\s+/).filter(Boolean);
    const mail = scopes.filter((s) => MICROSOFT_MAIL_SCOPES.includes(s));
    const unknown = scopes.filter((s) => !MICROSOFT_MAIL_SCOPES.includes(s) && !["offline_access", "openid", "profile", "email"].includes(s));
    if (!mail.length || unknown.length) {
      return microsoftError(
        400,
        "invalid_scope",
        70011,
        `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${form.scope} is not valid.`,
      );
    }
    const g = refreshTokens.get(form.refresh_token);
    if (g?.provider !== "microsoft") return microsoftError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.");
    if (g.revoked) {
      return microsoftError(
        400,
        "invalid_grant",
        70000,
        "The provided value for the 'refresh_token' is not valid. The user could not be authenticated or the grant has been revoked.",
      );
    }
    const scope = [...mail, ...(scopes.includes("offline_access") ? ["offline_access"] : [])].join(" ");
    // Microsoft rotates refresh tokens: a new one each time, of the same grant; the old one stays good.
    const rotated = token("0.AXoA", 64);
    refreshTokens.set(rotated, g);
    return {
      status: 200,
      body: { token_type: "Bearer", scope, expires_in: 3599, ext_expires_in: 3599, access_token: issue(g, mail.join(" ")), refresh_token: rotated },
    };
  };

  return {
    defaults,
    grant,
    log,
    tokenRequest(provider: Provider, tenant: string | null, contentType: string | null, form: Record<string, string>) {
      let answer: { status: number; body: unknown };
      const failure = failures.find((f) => f.times > 0 && (f.refreshToken === null || f.refreshToken === form.refresh_token));
      if (failure) {
        failure.times--;
        answer = { status: failure.status, body: failure.body };
      } else answer = provider === "google" ? google(contentType, form) : microsoft(contentType, form);
      log.push({ at: new Date().toISOString(), kind: "token", provider, tenant, content_type: contentType, form, status: answer.status, answer: answer.body });
      return answer;
    },
    introspect(contentType: string | null, form: Record<string, string>) {
      const access = accessTokens.get(form.token ?? "");
      const active = !!access && !access.expired && !access.grant.revoked && access.expiresAt > Date.now();
      const body = active
        ? {
            active: true,
            username: access.grant.user,
            scope: access.scope,
            client_id: OAUTH_CLIENTS[access.grant.provider].client_id,
            token_type: "Bearer",
            exp: Math.floor(access.expiresAt / 1000),
          }
        : { active: false };
      log.push({
        at: new Date().toISOString(),
        kind: "introspect",
        provider: access?.grant.provider ?? null,
        tenant: null,
        content_type: contentType,
        form,
        status: 200,
        answer: body,
      });
      return { status: 200, body };
    },
    revoke(refresh: string): boolean {
      const g = refreshTokens.get(refresh);
      if (!g) return false;
      g.revoked = true;
      return true;
    },
    expire(filter: { user?: string; access_token?: string }): number {
      let count = 0;
      for (const [t, a] of accessTokens) {
        if ((filter.user && a.grant.user !== filter.user) || (filter.access_token && t !== filter.access_token)) continue;
        a.expired = true;
        count++;
      }
      return count;
    },
    fail(status: number, body: unknown, times: number, refreshToken: string | null) {
      failures.push({ status, body, times, refreshToken });
    },
    reset() {
      log.length = 0;
      accessTokens.clear();
      failures.length = 0;
      for (const [t, g] of defaultGrants) refreshTokens.set(t, { ...g });
    },
  };
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

const FLAG_LETTERS: Record<string, string> = { "\\draft": "D", "\\flagged": "F", "\\answered": "R", "\\seen": "S", "\\deleted": "T" };

export default async function setup(project: TestProject) {
  if (!installed()) {
    throw new Error(
      "Dovecot is not installed: the tests need the Debian packages dovecot-core, dovecot-imapd and dovecot-pop3d (run `apt-get install -y dovecot-imapd dovecot-pop3d` as root, as .ci/run does)",
    );
  }
  if (process.getuid?.() !== 0) throw new Error("the Dovecot test instance must be started as root (dovecot -c)");
  const { MAILGATE_TEST_TLS_CERT: certPath, MAILGATE_TEST_TLS_KEY: keyPath } = process.env;
  if (!certPath || !keyPath) throw new Error("the test certificate is missing: load the workers plugin through loadWorkersPlugin (test/node/tls.ts)");
  await sweepLeftovers(PREFIX, stopMaster);

  const dir = mkdtempSync(join(tmpdir(), PREFIX));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "owner.pid"), String(process.pid));
  const etc = join(dir, "etc");
  const mailRoot = join(dir, "mail");
  mkdirSync(etc);
  mkdirSync(mailRoot, { mode: 0o755 });
  mkdirSync(join(dir, "tls"), { mode: 0o700 });
  writeFileSync(join(dir, "tls/cert.pem"), readFileSync(certPath), { mode: 0o600 });
  writeFileSync(join(dir, "tls/key.pem"), readFileSync(keyPath), { mode: 0o600 });
  const conf = join(etc, "dovecot.conf");
  const log = () => (existsSync(join(dir, "dovecot.log")) ? readFileSync(join(dir, "dovecot.log"), "utf8") : "");

  // Users: the passdb holds passwords (PLAIN, LOGIN), the userdb everyone (OAuth-only users too), one file per user
  // each: Dovecot's passwd-file driver looks at a file again at most once a second, so a user added to a shared
  // file within the second of another lookup would be unknown; a file of its own is read at the user's first lookup.
  const users = new Map<string, string | null>();
  const homeOf = (user: string) => join(mailRoot, user);
  const addUser = (user: string, password: string | null) => {
    if (!USERNAME.test(user)) throw new Error(`invalid user name ${JSON.stringify(user)}`);
    if (users.has(user)) throw new Error(`user ${user} exists`);
    if (password !== null && /[:\r\n]/.test(password)) throw new Error("a password may not contain ':' or a line break");
    const home = homeOf(user);
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, MAIL_ID.uid, MAIL_ID.gid);
    users.set(user, password);
    // Read by the auth process (user dovecot); test passwords only. No passdb file: an unknown user for PLAIN and LOGIN.
    writeFileSync(join(etc, "users.d", user), `${user}::${MAIL_ID.uid}:${MAIL_ID.gid}::${home}::\n`, { mode: 0o644 });
    if (password !== null) writeFileSync(join(etc, "passwd.d", user), `${user}:{PLAIN}${password}\n`, { mode: 0o644 });
  };
  mkdirSync(join(etc, "users.d"), { mode: 0o755 });
  mkdirSync(join(etc, "passwd.d"), { mode: 0o755 });
  for (const [user, password] of Object.entries(DOVECOT_USERS)) addUser(user, password);
  for (const user of Object.values(OAUTH_USERS)) addUser(user, null);

  const oauth = oauthProvider();
  const doveadm = (...args: string[]) => runAsync("doveadm", ["-c", conf, ...args]);

  // Maildir files: <time>.M<usec>P<pid>Q<n>.<host>,S=<size>[:2,<flags>]; Dovecot gives UIDs in the order of these times.
  let lastStamp = 0;
  let sequence = 0;
  const stamp = () => {
    lastStamp = Math.max(lastStamp + 1, Date.now() * 1000);
    return { sec: Math.floor(lastStamp / 1e6), usec: lastStamp % 1e6 };
  };
  const folderDir = (user: string, folder: string) => {
    if (!users.has(user)) throw Object.assign(new Error(`no user ${user}`), { status: 404 });
    const maildir = join(homeOf(user), "Maildir");
    if (folder.toUpperCase() === "INBOX") return maildir;
    if (!/^[^./\\][^/\\]*$/.test(folder)) throw Object.assign(new Error(`invalid folder ${JSON.stringify(folder)}`), { status: 400 });
    // Maildir++: subfolders are ".<name>" (hierarchy separator ".").
    return join(maildir, `.${folder}`);
  };
  const ensureMaildir = (user: string, folder: string) => {
    const home = homeOf(user);
    const maildir = join(home, "Maildir");
    const target = folderDir(user, folder);
    for (const path of [maildir, target, ...["cur", "new", "tmp"].flatMap((s) => [join(maildir, s), join(target, s)])]) {
      if (existsSync(path)) continue;
      mkdirSync(path, { mode: 0o700 });
      chownSync(path, MAIL_ID.uid, MAIL_ID.gid);
    }
    if (target !== maildir && !existsSync(join(target, "maildirfolder"))) {
      writeFileSync(join(target, "maildirfolder"), "");
      chownSync(join(target, "maildirfolder"), MAIL_ID.uid, MAIL_ID.gid);
    }
    return target;
  };
  const putMessage = (target: string, raw: Buffer, flags: string[], date: Date | null) => {
    const { sec, usec } = stamp();
    const letters = [...new Set(flags.map((f) => FLAG_LETTERS[f.toLowerCase()]).filter(Boolean))].sort().join("");
    const base = `${sec}.M${usec}P${process.pid}Q${++sequence}.mailgate-test,S=${raw.length}`;
    const file = flags.length ? join(target, "cur", `${base}:2,${letters}`) : join(target, "new", base);
    const fd = openSync(file, "wx", 0o600);
    try {
      writeSync(fd, raw);
    } finally {
      closeSync(fd);
    }
    chownSync(file, MAIL_ID.uid, MAIL_ID.gid);
    if (date) utimesSync(file, date, date);
    return file;
  };

  const listMessages = async (user: string, folder: string) => {
    const fetched = await doveadm("-f", "json", "fetch", "-u", user, "uid flags size.virtual guid hdr.message-id hdr.subject", "mailbox", folder, "ALL");
    if (fetched.status !== 0) throw new Error(`doveadm fetch failed (${fetched.status}): ${fetched.stderr}`);
    const rows = (fetched.stdout.trim() ? JSON.parse(fetched.stdout) : []) as Record<string, string>[];
    return rows
      .map((r) => ({
        uid: Number(r.uid),
        // \Recent belongs to a session (doveadm's own here), not to the message.
        flags: (r.flags ?? "").split(/\s+/).filter((f) => f && f !== "\\Recent"),
        size: Number(r["size.virtual"]),
        guid: r.guid ?? null,
        message_id: (r["hdr.message-id"] ?? "").trim() || null,
        subject: (r["hdr.subject"] ?? "").trim() || null,
      }))
      .sort((a, b) => a.uid - b.uid);
  };

  const cleanup = async () => {
    await stopMaster(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  const onExit = () => {
    const pid = masterPid(dir);
    if (pid !== null && alive(pid)) process.kill(pid, "SIGTERM");
  };
  process.once("exit", onExit);

  const control: Server = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      response.writeHead(status, { "Content-Type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json; charset=utf-8", ...headers }).end(text);
    };
    const method = request.method ?? "GET";
    try {
      const body = await readBody(request);
      const contentType = request.headers["content-type"] ?? null;
      const json = () => (body.length ? JSON.parse(body.toString("utf8")) : {});
      const form = () => Object.fromEntries(new URLSearchParams(/^application\/x-www-form-urlencoded\b/i.test(contentType ?? "") ? body.toString("utf8") : ""));

      // The providers' token endpoints and the introspection endpoint.
      let match = /^\/oauth\/(google)\/token$/.exec(url.pathname) ?? /^\/oauth\/(microsoft)\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
      if (match) {
        if (method !== "POST") return send(405, { error: "invalid_request", error_description: "POST only" });
        const answer = oauth.tokenRequest(match[1] as Provider, match[2] ? decodeURIComponent(match[2]) : null, contentType, form());
        return send(answer.status, answer.body, { "Cache-Control": "no-store", Pragma: "no-cache" });
      }
      if (url.pathname === "/oauth/introspect" && method === "POST") {
        const answer = oauth.introspect(contentType, form());
        return send(answer.status, answer.body);
      }

      // The provider's control paths.
      if (url.pathname === "/oauth/grants" && method === "POST") {
        const { provider, user } = json();
        if (provider !== "google" && provider !== "microsoft") return send(400, { error: "provider: google or microsoft" });
        if (typeof user !== "string" || !user) return send(400, { error: "user required" });
        return send(201, { ...OAUTH_CLIENTS[provider as Provider], refresh_token: oauth.grant(provider, user), user });
      }
      if (url.pathname === "/oauth/revoke" && method === "POST") {
        const { refresh_token } = json();
        return oauth.revoke(String(refresh_token ?? "")) ? send(200, { revoked: true }) : send(404, { error: "unknown refresh token" });
      }
      if (url.pathname === "/oauth/expire" && method === "POST") return send(200, { expired: oauth.expire(json()) });
      if (url.pathname === "/oauth/fail" && method === "POST") {
        const { status = 503, body: answer = { error: "temporarily_unavailable" }, times = 1, refresh_token = null } = json();
        oauth.fail(Number(status), answer, Number(times), typeof refresh_token === "string" ? refresh_token : null);
        return send(200, { ok: true });
      }
      if (url.pathname === "/oauth/log" && method === "GET") {
        const provider = url.searchParams.get("provider");
        const kind = url.searchParams.get("kind");
        return send(
          200,
          oauth.log.filter((r) => (!provider || r.provider === provider) && (!kind || r.kind === kind)),
        );
      }
      if (url.pathname === "/oauth/reset" && method === "POST") {
        oauth.reset();
        return send(200, { ok: true });
      }

      // Users and mailboxes.
      if (url.pathname === "/users" && method === "POST") {
        const input = json();
        const user = typeof input.name === "string" ? input.name : `user-${++sequence}-${randomBytes(3).toString("hex")}`;
        const password = input.password === false ? null : typeof input.password === "string" ? input.password : randomBytes(9).toString("hex");
        addUser(user, password);
        return send(201, {
          user,
          password,
          oauth: {
            google: { ...OAUTH_CLIENTS.google, refresh_token: oauth.grant("google", user), user },
            microsoft: { ...OAUTH_CLIENTS.microsoft, refresh_token: oauth.grant("microsoft", user), user },
          },
        });
      }
      match = /^\/mailbox\/([^/]+)\/(messages|fill)$/.exec(url.pathname);
      if (match) {
        const user = decodeURIComponent(match[1]!);
        const folder = url.searchParams.get("folder") ?? "INBOX";
        if (!users.has(user)) return send(404, { error: `no user ${user}` });
        if (match[2] === "fill" && method === "POST") {
          const input = json();
          const count = Number(input.count);
          if (!Number.isInteger(count) || count < 1 || count > 1_000_000) return send(400, { error: "count: a positive integer" });
          const target = ensureMaildir(user, typeof input.folder === "string" ? input.folder : folder);
          const run = randomBytes(4).toString("hex");
          const padding = Math.max(0, Number(input.size ?? 0) || 0);
          const date = new Date().toUTCString().replace("GMT", "+0000");
          for (let i = 1; i <= count; i++) {
            let text = `From: Sender <sender@example.test>\r\nTo: ${user}@dovecot.test\r\nSubject: Message ${i} of ${count}\r\nDate: ${date}\r\nMessage-ID: <fill-${i}-${run}@dovecot.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is message ${i} of ${count}.\r\n`;
            while (text.length < padding) text += `${"x".repeat(Math.min(76, padding - text.length))}\r\n`;
            putMessage(target, Buffer.from(text, "latin1"), input.seen ? ["\\Seen"] : [], null);
          }
          return send(201, { count, message_ids: [`<fill-1-${run}@dovecot.test>`, `<fill-${count}-${run}@dovecot.test>`] });
        }
        if (match[2] === "messages" && method === "POST") {
          if (!body.length) return send(400, { error: "the body is the message" });
          const flags = (url.searchParams.get("flags") ?? "").split(/[\s,]+/).filter(Boolean);
          const unknown = flags.filter((f) => !FLAG_LETTERS[f.toLowerCase()]);
          if (unknown.length) return send(400, { error: `unknown flags ${unknown.join(" ")} (\\Seen \\Answered \\Flagged \\Deleted \\Draft)` });
          const date = url.searchParams.get("date");
          const file = putMessage(ensureMaildir(user, folder), body, flags, date ? new Date(date) : null);
          return send(201, { file });
        }
        if (match[2] === "messages" && method === "GET") {
          if (!existsSync(folderDir(user, folder))) return send(200, url.searchParams.has("uidvalidity") ? { uidvalidity: null, messages: [] } : []);
          const messages = await listMessages(user, folder);
          if (!url.searchParams.has("uidvalidity")) return send(200, messages);
          const status = await doveadm("-f", "json", "mailbox", "status", "-u", user, "uidvalidity", folder);
          const uidvalidity = status.status === 0 ? Number((JSON.parse(status.stdout) as { uidvalidity: string }[])[0]?.uidvalidity) : null;
          return send(200, { uidvalidity, messages });
        }
        if (match[2] === "messages" && method === "DELETE") {
          if (!existsSync(join(homeOf(user), "Maildir"))) return send(200, { ok: true });
          const where = url.searchParams.has("folder") ? ["mailbox", folder] : ["mailbox", "*"];
          const expunged = await doveadm("expunge", "-u", user, ...where, "ALL");
          if (expunged.status !== 0) return send(500, { error: `doveadm expunge failed: ${expunged.stderr}` });
          return send(200, { ok: true });
        }
      }
      if (url.pathname === "/log" && method === "GET") return send(200, log());
      return send(404, { error: "unknown path" });
    } catch (error) {
      return send((error as { status?: number }).status ?? 500, { error: String(error) });
    }
  });
  await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", resolve));
  const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;
  writeFileSync(join(etc, "oauth2.conf.ext"), oauth2Conf(controlUrl));

  const authSocket = process.env.MAILGATE_TEST_DOVECOT_AUTH_SOCKET;
  let ports: Record<ServiceName, number> | undefined;
  try {
    // A port found free may be taken before the master binds it: try again with others.
    for (let attempt = 1; !ports; attempt++) {
      const candidate = Object.fromEntries((await freePorts(SERVICES.length)).map((p, i) => [SERVICES[i], p])) as Record<ServiceName, number>;
      writeFileSync(conf, dovecotConf(dir, candidate, authSocket));
      // The daemon keeps the stderr it was started with: a file, not a pipe spawnSync would wait on forever.
      const output = openSync(join(dir, "start.log"), "w");
      let started: ReturnType<typeof spawnSync>;
      try {
        started = spawnSync("dovecot", ["-c", conf], { stdio: ["ignore", output, output], env: { ...process.env, PATH }, timeout: 60_000 });
      } finally {
        closeSync(output);
      }
      const said = readFileSync(join(dir, "start.log"), "utf8");
      if (started.status === 0) ports = candidate;
      else if (attempt >= 3 || !/address already in use/i.test(log() + said)) {
        throw new Error(`dovecot -c ${conf} failed (${started.error ?? started.status}): ${said}`);
      }
    }
    const ready = ports;
    // The master binds the listeners before it forks; the login processes answer a moment later.
    for (let i = 0; ; i++) {
      try {
        await Promise.all(SERVICES.map((name) => probe(name, ready[name])));
        break;
      } catch (error) {
        if (i >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    const text = log();
    await new Promise<void>((resolve) => control.close(() => resolve()));
    await cleanup();
    process.off("exit", onExit);
    throw new Error(`the Dovecot test instance did not start: ${(error as Error).message}\n--- ${dir}/dovecot.log:\n${text}`);
  }

  project.provide("dovecot", {
    host: "127.0.0.1",
    ports: ports!,
    users: { ...DOVECOT_USERS },
    control: controlUrl,
    oauth: {
      google: { ...OAUTH_CLIENTS.google, refresh_token: oauth.defaults.google, user: OAUTH_USERS.google },
      microsoft: { ...OAUTH_CLIENTS.microsoft, refresh_token: oauth.defaults.microsoft, user: OAUTH_USERS.microsoft },
    },
  });
  return async () => {
    const closed = new Promise<void>((resolve) => control.close(() => resolve()));
    control.closeAllConnections();
    await cleanup();
    await closed;
    process.off("exit", onExit);
  };
}
