import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/** `npm run bench`: benchmarks in Node (they print tables; they assert nothing about speed). */
export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    include: ["bench/*.bench.ts"],
    environment: "node",
    pool: "forks",
    fileParallelism: false,
    silent: false,
  },
});
