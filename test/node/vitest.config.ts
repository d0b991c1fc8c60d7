import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { loadWorkersPlugin } from "./tls.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

export default defineConfig(async () => {
  const { cloudflareTest, migrations } = await loadWorkersPlugin(root);
  return {
    root,
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: `${root}/wrangler.toml` },
              miniflare: {
                bindings: {
                  ADMIN_TOKEN: "test-admin-token",
                  SECRETS_KEY: "test-secrets-key-not-for-production",
                  PUBLIC_URL: "https://mailgate.test",
                  // The webhook receivers run on loopback; test/webhooks.test.ts checks the refusal without this.
                  ALLOW_PRIVATE_WEBHOOKS: "true",
                  TEST_MIGRATIONS: migrations,
                },
              },
            }),
          ],
          // As wrangler.toml's [alias]: email-reply-parser's probe for Node's re2 finds nothing (src/shims/module.ts).
          resolve: { alias: { module: `${root}/src/shims/module.ts` } },
          test: {
            name: "workers",
            include: ["test/*.test.ts"],
            // Some tests drive a dozen entry-point calls; on two busy cores 5 s is a guess, not a guarantee.
            testTimeout: 30_000,
            setupFiles: ["test/setup.ts"],
            globalSetup: ["test/node/corpus-server.ts", "test/node/mail-servers.ts", "test/node/postfix.ts", "test/node/dovecot.ts", "test/node/odoo.ts", "test/node/doh.ts"],
          },
        },
        {
          // Pure rules in plain Node (no workerd): table tests that run in milliseconds.
          test: {
            name: "unit",
            include: ["test/unit/*.test.ts"],
            environment: "node",
          },
        },
        {
          test: {
            name: "e2e",
            include: ["test/node/e2e.test.ts"],
            environment: "node",
            testTimeout: 60_000,
          },
        },
        {
          // The console in Debian's chromium (playwright-core) against `wrangler dev`: flows, console errors, axe-core, screenshots.
          test: {
            name: "browser",
            include: ["test/node/browser.test.ts"],
            environment: "node",
            testTimeout: 120_000,
            hookTimeout: 180_000,
          },
        },
        {
          // The bounce reader against sisimai's curated expectations (npm run corpus prints the report).
          test: {
            name: "corpus",
            include: ["test/node/bounce-corpus.test.ts", "test/node/bounce-fixtures.test.ts"],
            environment: "node",
            testTimeout: 120_000,
          },
        },
      ],
    },
  };
});
