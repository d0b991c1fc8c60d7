/**
 * Node has no `cloudflare:email` or `cloudflare:sockets`. The benchmarks
 * that run in Node never send (they measure up to the queue), so these
 * only have to exist; calling them is a mistake in the benchmark.
 */
export class EmailMessage {
  constructor() {
    throw new Error("cloudflare:email is not available in the Node benchmarks");
  }
}

export function connect(): never {
  throw new Error("cloudflare:sockets is not available in the Node benchmarks");
}
