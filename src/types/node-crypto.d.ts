/**
 * The part of `node:crypto` we use (workerd provides it with the
 * nodejs_compat flag): reading a certificate a server sent
 * (src/outbound/relays/tls-diagnosis.ts). Declared here because @types/node
 * and @cloudflare/workers-types do not mix in one program.
 */
declare module "node:crypto" {
  export class X509Certificate {
    constructor(der: Uint8Array);
    readonly subject: string;
    readonly issuer: string;
    readonly subjectAltName: string | undefined;
    readonly validFrom: string;
    readonly validTo: string;
    readonly publicKey: unknown;
    checkHost(name: string): string | undefined;
    checkIP(ip: string): string | undefined;
    checkIssued(other: X509Certificate): boolean;
    verify(publicKey: unknown): boolean;
  }
}
