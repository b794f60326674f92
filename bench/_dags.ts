// Seeded DAG shapes shared by the benchmarks: wide, chain, layered.

/** A DAG as plain data: ids and, per task, the indices of its dependencies. */
export interface Dag {
  shape: Shape;
  n: number;
  deps: number[][];
}

/** The shapes the benchmarks run. */
export type Shape = "wide" | "chain" | "layered";

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Builds a DAG: `wide` has no edges; `chain` links each task to the previous;
 * `layered` has 20 layers, each task depending on 3 random tasks of the previous layer.
 */
export function makeDag(shape: Shape, n: number, seed = 42): Dag {
  const deps: number[][] = new Array(n);
  if (shape === "wide") {
    for (let i = 0; i < n; i++) deps[i] = [];
  } else if (shape === "chain") {
    for (let i = 0; i < n; i++) deps[i] = i === 0 ? [] : [i - 1];
  } else {
    const rnd = prng(seed);
    const layers = 20;
    const per = Math.ceil(n / layers);
    for (let i = 0; i < n; i++) {
      const layer = Math.floor(i / per);
      if (layer === 0) {
        deps[i] = [];
        continue;
      }
      const start = (layer - 1) * per;
      const picked = new Set<number>();
      while (picked.size < Math.min(3, per)) picked.add(start + Math.floor(rnd() * per));
      deps[i] = [...picked];
    }
  }
  return { shape, n, deps };
}

/**
 * The tasks of a fan-out with no-op bodies, root → `width` middles → sink; width 3 is the 5-task diamond of the
 * small-run benchmarks. Plain definitions, for the `defineWorkflow` of whichever checkout a benchmark loads.
 */
export function fanTasks(width: number): { id: string; dependsOn?: string[]; run: () => undefined }[] {
  const noop = () => undefined;
  const mids = Array.from({ length: width }, (_, i) => `m${i}`);
  return [
    { id: "root", run: noop },
    ...mids.map((id) => ({ id, dependsOn: ["root"], run: noop })),
    { id: "sink", dependsOn: mids, run: noop },
  ];
}
