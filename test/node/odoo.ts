/**
 * Vitest global setup (Node): a local Odoo external API on loopback,
 * test/node/odoo_xmlrpc.py (Python's standard xmlrpc and http.server),
 * answering `authenticate` and `execute_kw(… "mail.thread",
 * "message_process" …)` with Odoo's signatures and faults, and recording
 * every message byte for byte. Its control port (provided as `control`)
 * reads what arrived and sets failure modes; the script's header lists
 * them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

const SCRIPT = fileURLToPath(new URL("./odoo_xmlrpc.py", import.meta.url));

interface Ports {
  api: number;
  control: number;
  db: string;
  login: string;
  api_key: string;
}

/** Starts the script and reads the one JSON line it prints once both ports listen. */
function start(apiKey: string): Promise<{ child: ChildProcess; ports: Ports }> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", [SCRIPT, apiKey], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the local Odoo did not start within 10 s: ${err}`));
    }, 10_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) {
        clearTimeout(timer);
        resolve({ child, ports: JSON.parse(line) as Ports });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the local Odoo exited (${code}): ${err}`));
    });
  });
}

export default async function setup(project: TestProject) {
  const { child, ports } = await start(randomBytes(20).toString("hex"));
  // `control` is on a port of its own, so it answers while the API port is "down" (test/provided.d.ts does not declare it yet).
  const provided = { url: `http://127.0.0.1:${ports.api}`, db: ports.db, login: ports.login, api_key: ports.api_key, control: `http://127.0.0.1:${ports.control}` };
  project.provide("odoo", provided);
  return async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  };
}
