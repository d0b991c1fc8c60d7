type MailgateEnv = import("../src/env").Env;
type TestMigrations = import("cloudflare:test").D1Migration[];

declare namespace Cloudflare {
  interface Env extends MailgateEnv {
    TEST_MIGRATIONS: TestMigrations;
  }
}
