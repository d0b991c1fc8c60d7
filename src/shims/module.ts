/**
 * Stands in for Node's `module` in the Worker bundle (wrangler.toml
 * [alias]). email-reply-parser probes for the optional native `re2` with
 * `createRequire(import.meta.url)`, which throws at load time in workerd;
 * here the probe simply finds nothing, and it uses JavaScript's RegExp.
 */
export function createRequire(): (id: string) => never {
  return (id) => {
    throw new Error(`${id} cannot be loaded in a Worker`);
  };
}
