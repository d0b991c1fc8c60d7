#!/usr/bin/env node
/**
 * `npm start`: mailgate on this machine.
 *
 * 1. writes `.dev.vars` with a random dev ADMIN_TOKEN if it has none;
 * 2. applies the D1 migrations to the local database;
 * 3. runs `wrangler dev` on PORT (default 8787);
 * 4. once it answers, seeds the demo domain and aliases through the API
 *    (idempotent: what exists is left alone) and prints how to use it.
 *
 * PERSIST_TO moves the local state (D1, KV, R2) away from `.wrangler/state`;
 * INSPECTOR_PORT sets wrangler's DevTools port (the benchmark profiles through it);
 * DOH_URL, when set, is the DNS-over-HTTPS resolver the domain check asks.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// Run wrangler's own entry with this Node (npm start runs Node 22 from the `node` package;
// the .bin shim would pick whatever `node` is first on PATH).
const wranglerEntry = join(root, "node_modules", "wrangler", "bin", "wrangler.js");
const wrangler = (args, options) => [process.execPath, [wranglerEntry, ...args], options];
const port = Number(process.env.PORT ?? 8787);
const persist = process.env.PERSIST_TO ? ["--persist-to", process.env.PERSIST_TO] : [];
const base = `http://127.0.0.1:${port}`;

export const DEMO_DOMAIN = "demo.example";
const DEMO_ALIASES = [
  { name: "sales", destinations: [{ type: "store" }] },
  { name: "support", destinations: [{ type: "store" }], add_sender_as_follower: true, followers: [{ email: "agent@example.org", name: "Demo Agent" }] },
  { name: "team", destinations: [{ type: "store" }, { type: "forward", to: "team-inbox@example.org" }] },
];

/** Reads a secret from .dev.vars, adding a random dev value when it is missing. */
function devSecret(name, prefix) {
  const path = join(root, ".dev.vars");
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const found = new RegExp(`^${name}\\s*=\\s*"?([^"\\n]+)"?\\s*$`, "m").exec(text);
  if (found) return found[1];
  const value = `${prefix}${randomBytes(24).toString("base64url")}`;
  writeFileSync(path, `${text}${text && !text.endsWith("\n") ? "\n" : ""}${name}=${value}\n`);
  console.log(`mailgate: wrote a dev ${name} to .dev.vars`);
  return value;
}

async function waitForHealth(child) {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${base}/health`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`mailgate did not answer on ${base}/health`);
}

async function seed(token) {
  const call = (method, path, body) =>
    fetch(`${base}${path}`, { method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const domain = await call("PUT", `/v1/domains/${DEMO_DOMAIN}`, { company_name: "Demo Company", contact_email: "hello@example.org" });
  if (!domain.ok) throw new Error(`seeding the demo domain failed: ${domain.status} ${await domain.text()}`);
  for (const alias of DEMO_ALIASES) {
    const response = await call("POST", "/v1/aliases", { domain: DEMO_DOMAIN, contact: "everyone", ...alias });
    if (!response.ok && response.status !== 409) throw new Error(`seeding ${alias.name}@${DEMO_DOMAIN} failed: ${response.status} ${await response.text()}`);
  }
  // Outbound: Cloudflare Email Service for the demo domain (locally, wrangler saves what it sends under .wrangler).
  const relays = await (await call("GET", "/v1/relays")).json();
  if (!relays.items.some((r) => r.type === "cloudflare")) {
    const response = await call("POST", "/v1/relays", { name: "Cloudflare Email Service", type: "cloudflare", from_filter: DEMO_DOMAIN });
    if (!response.ok) throw new Error(`seeding the relay failed: ${response.status} ${await response.text()}`);
  }
}

const token = devSecret("ADMIN_TOKEN", "dev-");
devSecret("SECRETS_KEY", "");
const migrate = spawnSync(...wrangler(["d1", "migrations", "apply", "DB", "--local", ...persist], { cwd: root, stdio: "inherit", env: { ...process.env, CI: "1" } }));
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const inspector = process.env.INSPECTOR_PORT ? ["--inspector-port", process.env.INSPECTOR_PORT] : [];
// Local development only: links in webhook payloads point here, and webhooks may post to local receivers.
const devVars = ["--var", `PUBLIC_URL:${base}`, "--var", "ALLOW_PRIVATE_WEBHOOKS:true"];
// The domain check's DNS-over-HTTPS resolver, when given (default: Cloudflare's).
if (process.env.DOH_URL) devVars.push("--var", `DOH_URL:${process.env.DOH_URL}`);
const child = spawn(...wrangler(["dev", "--port", String(port), "--ip", "127.0.0.1", ...devVars, ...inspector, ...persist], { cwd: root, stdio: "inherit" }));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));

await waitForHealth(child);
await seed(token);
console.log(`
mailgate is running on ${base} (demo domain ${DEMO_DOMAIN}: sales@, support@, team@ forwarding to team-inbox@example.org; outbound through Cloudflare Email Service)

Send it a message:
  printf 'From: Mary <mary@example.org>\\r\\nTo: sales@${DEMO_DOMAIN}\\r\\nMessage-ID: <hello-1@example.org>\\r\\nSubject: Hello\\r\\n\\r\\nHi!\\r\\n' |
    curl -s --data-binary @- '${base}/cdn-cgi/local/email?from=mary@example.org&to=sales@${DEMO_DOMAIN}&format=json'

Read it back with the admin token from .dev.vars:
  curl -s -H "Authorization: Bearer $(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars)" '${base}/v1/messages?message_id=%3Chello-1@example.org%3E'

Send one:
  curl -s -H "Authorization: Bearer $(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars)" -H 'Content-Type: application/json' \\
    -d '{"from":"Sales <sales@${DEMO_DOMAIN}>","to":["you@example.org"],"subject":"Hi","text":"Hello"}' '${base}/v1/messages'
`);
