/**
 * Vitest global setup (runs in Node): serves the third-party corpus in
 * ../shared/corpus over loopback HTTP, so tests inside workerd can read the
 * exact bytes of every message.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

export const CORPUS_DIR = fileURLToPath(new URL("../../../shared/corpus", import.meta.url));

/** Every message file of the corpus: the .eml files and the mbox files, not licences or expectations. */
export function corpusFiles(dir = CORPUS_DIR): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!["expected", "LICENSES"].includes(name)) out.push(...corpusFiles(path));
    } else if (name.endsWith(".eml") || path.includes("/mailbox/")) {
      out.push(relative(CORPUS_DIR, path));
    }
  }
  return out.sort();
}

export default async function setup(project: TestProject) {
  const files = corpusFiles();
  const server = createServer((request, response) => {
    const file = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname.slice(1));
    if (!files.includes(file)) return response.writeHead(404).end();
    response.writeHead(200, { "Content-Type": "application/octet-stream" }).end(readFileSync(join(CORPUS_DIR, file)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  project.provide("corpus", { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, files });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
