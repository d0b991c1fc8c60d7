import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { loadWorkersPlugin } from "../test/node/tls.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const stub = `${root}/bench/stubs/workerd-modules.ts`;

/**
 * `npm run bench`: benchmarks (they print tables; they assert nothing about
 * speed). `node`: our code's CPU in Node 22 (V8). `workerd`: what needs the
 * Workers runtime (SMTP over cloudflare:sockets, the queue consumer).
 */
export default defineConfig(async () => {
  const { cloudflareTest, migrations } = await loadWorkersPlugin(root);
  return {
    root,
    test: {
      fileParallelism: false,
      projects: [
        {
          resolve: { alias: { "cloudflare:email": stub, "cloudflare:sockets": stub } },
          test: { name: "node", include: ["bench/*.bench.ts"], environment: "node", pool: "forks" },
        },
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: `${root}/wrangler.toml` },
              miniflare: { bindings: { ADMIN_TOKEN: "test-admin-token", SECRETS_KEY: "bench-secrets-key", TEST_MIGRATIONS: migrations } },
            }),
          ],
          test: { name: "workerd", include: ["bench/workers/*.bench.ts"], setupFiles: ["test/setup.ts"], globalSetup: ["test/node/mail-servers.ts"] },
        },
      ],
    },
  };
});
