import { defineConfig } from "drizzle-kit";

/** `npm run db:generate`: SQL migrations from src/db/schema.ts, applied by `wrangler d1 migrations apply`. */
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
