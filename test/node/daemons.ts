/**
 * What the global setups that run a private daemon (test/node/postfix.ts,
 * test/node/dovecot.ts) share: running commands with the system's sbin on
 * the PATH, telling whether a process runs, stopping a master by its pid
 * file, sweeping instances left by runs that died, and free loopback ports.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { type AddressInfo, createServer as createTcpServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The daemons and their tools live in sbin, which a test runner's PATH may lack. */
export const DAEMON_PATH = `/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ""}`;

/** Runs a command to its end; a non-zero exit throws with its output unless allowed. */
export function run(command: string, args: string[], options: { allowFailure?: boolean } = {}) {
  const result = spawnSync(command, args, { encoding: "utf8", env: { ...process.env, PATH: DAEMON_PATH }, timeout: 60_000 });
  if (result.error) throw result.error;
  if (result.status !== 0 && !options.allowFailure) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stdout}${result.stderr}`);
  }
  return result;
}

/** Whether the process runs (a zombie does not: a master reparented to init may be reaped late). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "")[0] !== "Z";
  } catch {
    return true;
  }
}

/** The pid a master wrote to `file`, or null. */
export function pidIn(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  } catch {
    return null;
  }
}

/** Stops a master (SIGTERM, which it passes to its children) and waits for it; SIGKILL to its group after 5 s. */
export async function stopProcess(pid: number | null): Promise<void> {
  if (pid === null || !alive(pid)) return;
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  if (alive(pid)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      process.kill(pid, "SIGKILL");
    }
  }
}

/**
 * Instances left behind by runs that died before their teardown (temp dirs
 * named `<prefix>…` whose `owner.pid` process is gone, or old ones without
 * it): stopped with `stop(dir)` and removed. A concurrent run's are left alone.
 */
export async function sweepLeftovers(prefix: string, stop: (dir: string) => Promise<void>): Promise<void> {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(tmpdir(), name);
    let owner = 0;
    try {
      owner = Number(readFileSync(join(dir, "owner.pid"), "utf8"));
    } catch {
      // No owner recorded: only remove it once it is old.
      try {
        if (Date.now() - statSync(dir).mtimeMs < 3600_000) continue;
      } catch {
        continue;
      }
    }
    if (owner && alive(owner)) continue;
    await stop(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `count` loopback ports free right now (listened on, then let go). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createTcpServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Reads until `done` says the text so far is a whole answer. */
export function readUntil(socket: import("node:net").Socket | import("node:tls").TLSSocket, done: (text: string) => boolean, timeout = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeout} ms (got ${JSON.stringify(text)})`)), timeout);
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (done(text)) finish(null);
    };
    const onError = (error: Error) => finish(error);
    const onClose = () => finish(new Error(`connection closed (got ${JSON.stringify(text)})`));
    const finish = (error: Error | null) => {
      clearTimeout(timer);
      socket.off("data", onData).off("error", onError).off("close", onClose);
      if (error) reject(error);
      else resolve(text);
    };
    socket.on("data", onData).on("error", onError).on("close", onClose);
  });
}
