/**
 * The time, as one injectable function. The Worker is built with a clock
 * (src/worker.ts): production reads the system time, tests move time
 * through the entry points instead of rewriting rows.
 */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
