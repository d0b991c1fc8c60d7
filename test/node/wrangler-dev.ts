/**
 * `npm start`'s script (scripts/start.mjs) under the tests: the real Worker in `wrangler dev`, on a free
 * loopback port, with its local D1/R2/Queues state in a directory of the caller's (PERSIST_TO).
 * Shared by the e2e and browser projects.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Running {
  child: ChildProcess;
  base: string;
  log: () => string;
}

/**
 * On a clean clone there is no `.dev.vars` yet, and the e2e and browser projects start at the same time:
 * two start.mjs writing it at once could each keep a different token in memory. Create it once, atomically
 * (O_EXCL), in start.mjs's own format; when it exists, start.mjs only reads it.
 */
function ensureDevVars() {
  const text = `ADMIN_TOKEN=dev-${randomBytes(24).toString("base64url")}\nSECRETS_KEY=${randomBytes(24).toString("base64url")}\n`;
  try {
    writeFileSync(join(root, ".dev.vars"), text, { flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}

/** Runs `scripts/start.mjs` (what `npm start` runs) with PERSIST_TO=`state` and waits for its "is running" line. */
export async function start(state: string, env: Record<string, string> = {}): Promise<Running> {
  ensureDevVars();
  const port = await freePort();
  const child = spawn(process.execPath, ["scripts/start.mjs"], { cwd: root, env: { ...process.env, ...env, PORT: String(port), PERSIST_TO: state } });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const deadline = Date.now() + 90_000;
  while (!output.includes("mailgate is running")) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
    if (Date.now() > deadline) throw new Error(`npm start did not get ready:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { child, base: `http://127.0.0.1:${port}`, log: () => output };
}

/** Stops it (SIGTERM, which start.mjs passes on to wrangler) and waits for the exit. */
export async function stop(running: Running) {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return;
  const exited = new Promise((resolve) => running.child.once("exit", resolve));
  running.child.kill("SIGTERM");
  await exited;
}

/** The dev admin token start.mjs keeps in `.dev.vars`. */
export function adminToken(): string {
  return /^ADMIN_TOKEN=(.+)$/m.exec(readFileSync(join(root, ".dev.vars"), "utf8"))![1]!.trim();
}
