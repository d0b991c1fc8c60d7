/**
 * CPU measurement for the benchmarks: V8's sampling profiler on the main
 * thread (what a Worker's CPU time counts), split by whose code runs.
 * process.cpuUsage() would also count V8's background compiler and GC
 * threads, which workerd does not bill the same way.
 */

/** Milliseconds, 3 decimals under 1 ms, 2 above. */
export const fmt = (ms: number) => ms.toFixed(ms < 1 ? 3 : 2);

export interface Attributed {
  /** CPU ms per call in our code and the libraries it calls (src/ and node_modules), GC included pro rata. */
  ours: number;
  /** CPU ms per call in the benchmark's stand-in bindings (D1's, R2's own work in production). */
  standIns: number;
  /** CPU ms per call in Node's runtime (web streams, Request objects: native code in workerd). */
  runtime: number;
}

/** A V8 CPU profile (50 µs samples) of `runs` calls after `warmUp` unprofiled ones. */
export async function cpuProfile(fn: (i: number) => Promise<unknown>, warmUp: number, runs: number): Promise<CpuProfile> {
  const { Session } = await import("node:inspector/promises");
  for (let i = 0; i < warmUp; i++) await fn(i);
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 50 });
  await session.post("Profiler.start");
  for (let i = 0; i < runs; i++) await fn(warmUp + i);
  const { profile } = (await session.post("Profiler.stop")) as unknown as {
    profile: { nodes: { id: number; callFrame: { url: string; functionName: string }; children?: number[] }[]; samples: number[]; timeDeltas: number[] };
  };
  session.disconnect();
  return profile;
}

export interface CpuProfile {
  nodes: { id: number; callFrame: { url: string; functionName: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * CPU per call split by whose code runs, from V8's sampling profiler (50 µs
 * samples): each sample goes to the nearest frame on its stack that has a
 * source file. Frames under bench/ are the stand-ins and the harness;
 * node:internal frames are Node's runtime; everything else is ours.
 */
export async function attributedCpu(fn: (i: number) => Promise<unknown>, warmUp: number, runs: number): Promise<Attributed> {
  const profile = await cpuProfile(fn, warmUp, runs);

  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const owner = new Map<number, "ours" | "standIns" | "runtime" | "gc" | "idle">();
  const classify = (id: number): "ours" | "standIns" | "runtime" | "gc" | "idle" => {
    const cached = owner.get(id);
    if (cached) return cached;
    let result: "ours" | "standIns" | "runtime" | "gc" | "idle" = "runtime";
    const name = nodes.get(id)!.callFrame.functionName;
    if (name === "(idle)" || name === "(program)") result = "idle";
    else if (name === "(garbage collector)") result = "gc";
    else {
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const url = nodes.get(at)!.callFrame.url;
        if (!url) continue;
        result = url.includes("/bench/") ? "standIns" : url.startsWith("node:") ? "runtime" : "ours";
        break;
      }
    }
    owner.set(id, result);
    return result;
  };
  const totals = { ours: 0, standIns: 0, runtime: 0, gc: 0, idle: 0 };
  for (const [i, id] of profile.samples.entries()) totals[classify(id)] += profile.timeDeltas[i]! / 1000;
  const busy = totals.ours + totals.standIns + totals.runtime;
  const withGc = (part: number) => (part + (busy ? (totals.gc * part) / busy : 0)) / runs;
  return { ours: withGc(totals.ours), standIns: withGc(totals.standIns), runtime: withGc(totals.runtime) };
}
