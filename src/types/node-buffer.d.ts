/**
 * The part of `node:buffer` we use (workerd provides it with the
 * nodejs_compat flag). Declared here because @types/node and
 * @cloudflare/workers-types do not mix in one program.
 */
declare module "node:buffer" {
  interface NodeBuffer extends Uint8Array {
    toString(encoding?: "base64" | "base64url" | "hex" | "utf8" | "latin1"): string;
  }
  export const Buffer: {
    from(data: Uint8Array | ArrayBuffer): NodeBuffer;
    from(data: string, encoding: "base64" | "base64url" | "utf8" | "latin1"): NodeBuffer;
  };
}
