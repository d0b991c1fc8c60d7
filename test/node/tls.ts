/**
 * A throwaway certificate authority and a certificate for 127.0.0.1 and
 * localhost, for the loopback SMTP servers of the tests. workerd trusts the
 * CA through NODE_EXTRA_CA_CERTS, which Miniflare reads once when it loads,
 * so the Vitest configs load the plugin through `loadWorkersPlugin`.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import selfsigned from "selfsigned";

export interface TestTls {
  caPath: string;
  certPath: string;
  keyPath: string;
  /** The CA's private key, for tests that sign more certificates with it (test/node/postfix.ts). */
  caKeyPath: string;
}

/**
 * Creates them once per process: Vitest may evaluate its config more than
 * once, and workerd must trust the very CA that signed the servers' certificate.
 */
export async function createTestTls(): Promise<TestTls> {
  const { NODE_EXTRA_CA_CERTS: caPath, MAILGATE_TEST_TLS_CERT: certPath, MAILGATE_TEST_TLS_KEY: keyPath } = process.env;
  if (caPath && certPath && keyPath && [caPath, certPath, keyPath].every((p) => existsSync(p)) && certPath.includes("mailgate-tls-")) {
    return { caPath, certPath, keyPath, caKeyPath: join(dirname(caPath), "ca-key.pem") };
  }
  // Each config evaluation of a fresh process makes one; the ones a day old belong to no running test.
  for (const name of readdirSync(tmpdir())) {
    const old = join(tmpdir(), name);
    if (name.startsWith("mailgate-tls-") && Date.now() - statSync(old).mtimeMs > 24 * 3600_000) rmSync(old, { recursive: true, force: true });
  }
  const dir = mkdtempSync(join(tmpdir(), "mailgate-tls-"));
  const notAfterDate = new Date(Date.now() + 7 * 24 * 3600_000);
  const ca = await selfsigned.generate([{ name: "commonName", value: "mailgate test CA" }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate,
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await selfsigned.generate([{ name: "commonName", value: "localhost" }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
        ],
      },
    ],
  });
  const paths = { caPath: join(dir, "ca.pem"), certPath: join(dir, "cert.pem"), keyPath: join(dir, "key.pem"), caKeyPath: join(dir, "ca-key.pem") };
  writeFileSync(paths.caPath, ca.cert);
  writeFileSync(paths.caKeyPath, ca.private);
  writeFileSync(paths.certPath, leaf.cert);
  writeFileSync(paths.keyPath, leaf.private);
  return paths;
}

/**
 * The Workers Vitest plugin and the D1 migrations, loaded only once the test
 * CA is in NODE_EXTRA_CA_CERTS (and its server certificate where the
 * loopback servers find it).
 */
export async function loadWorkersPlugin(root: string) {
  const tls = await createTestTls();
  process.env.NODE_EXTRA_CA_CERTS = tls.caPath;
  process.env.MAILGATE_TEST_TLS_CERT = tls.certPath;
  process.env.MAILGATE_TEST_TLS_KEY = tls.keyPath;
  process.env.MAILGATE_TEST_TLS_CA_KEY = tls.caKeyPath;
  const { cloudflareTest, readD1Migrations } = await import("@cloudflare/vitest-plugin");
  return { cloudflareTest, migrations: await readD1Migrations(`${root}/migrations`) };
}
