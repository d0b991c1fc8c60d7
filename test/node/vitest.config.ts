import { fileURLToPath } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL("../..", import.meta.url));

export default defineConfig(async () => {
  const migrations = await readD1Migrations(`${root}/migrations`);
  return {
    root,
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: `${root}/wrangler.toml` },
              miniflare: { bindings: { ADMIN_TOKEN: "test-admin-token", TEST_MIGRATIONS: migrations } },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/*.test.ts"],
            setupFiles: ["test/setup.ts"],
            globalSetup: ["test/node/corpus-server.ts"],
          },
        },
        {
          test: {
            name: "e2e",
            include: ["test/node/**/*.test.ts"],
            environment: "node",
            testTimeout: 60_000,
          },
        },
      ],
    },
  };
});
