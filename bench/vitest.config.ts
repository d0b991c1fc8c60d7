import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL("..", import.meta.url));
const stub = `${root}/bench/stubs/workerd-modules.ts`;

/** `npm run bench`: benchmarks in Node (they print tables; they assert nothing about speed). */
export default defineConfig({
  root,
  resolve: { alias: { "cloudflare:email": stub, "cloudflare:sockets": stub } },
  test: {
    include: ["bench/*.bench.ts"],
    environment: "node",
    pool: "forks",
    fileParallelism: false,
    silent: false,
  },
});
