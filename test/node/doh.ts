/** Vitest global setup: a local DNS-over-HTTPS resolver (placeholder until the domain check lands). */
import type { TestProject } from "vitest/node";

export default async function setup(project: TestProject) {
  project.provide("doh", { url: "http://127.0.0.1:9/dns-query" });
}
