/** Values the Node-side global setup hands to tests (vitest `provide`/`inject`). */
declare module "vitest" {
  interface ProvidedContext {
    corpus: { url: string; files: string[] };
  }
}
export {};
