// Fixed workloads for before/after comparisons of whole processes, run against any checkout. They print nothing but
// `steps`' heap lines; time them from outside, the two checkouts taken in turns, e.g.
//   for i in 1 2 3 4 5; do for c in ../before .; do /usr/bin/time -f "$c %e s wall %U+%S s cpu %M KiB" \
//     deno run -A bench/workload.ts small $c; done; done
// Usage: deno run -A bench/workload.ts <small|large|durable|steps> [checkout (default: this one)]
//   small    30,000 runs of a 5-task diamond, then 7,500 of a 20-task fan-out, one after another on one engine
//   large    a 20,000-task layered, wide and chain workflow, 4 runs each, one engine per shape
//   durable  3,000 diamonds one after another on a file log store (a temporary directory), then 200 at once
//   steps    20,000 workflows built and run step by step (createWorkflow, addTask ×2, execute, wait) on one engine;
//            prints µs per workflow and the heap after GC (with --v8-flags=--expose-gc) every 5,000
// Every engine: workers: false, default retention, no-op bodies.
const [mode = "small", checkout] = Deno.args;
const root = checkout === undefined
  ? new URL("..", import.meta.url).href
  : new URL(`${checkout}/`, `file://${Deno.cwd()}/`).href;
const { createEngine, defineWorkflow } = await import(new URL("mod.ts", root).href);
const noop = () => undefined;
const fan = (width: number) =>
  defineWorkflow({
    name: `fan-${width}`,
    tasks: [
      { id: "root", run: noop },
      ...Array.from({ length: width }, (_, i) => ({ id: `m${i}`, dependsOn: ["root"], run: noop })),
      { id: "sink", dependsOn: Array.from({ length: width }, (_, i) => `m${i}`), run: noop },
    ],
  });

if (mode === "small") {
  const engine = createEngine({ workers: false });
  const diamond = fan(3);
  const wide = fan(18);
  for (let i = 0; i < 30_000; i++) await engine.run(diamond);
  for (let i = 0; i < 7_500; i++) await engine.run(wide);
  await engine.close();
} else if (mode === "large") {
  const { makeDag } = await import(new URL("bench/_dags.ts", root).href);
  for (const shape of ["layered", "wide", "chain"]) {
    const size = 20_000;
    const dag = makeDag(shape, size);
    const ids = Array.from({ length: size }, (_, i) => `t${i}`);
    const workflow = defineWorkflow({
      name: shape,
      tasks: ids.map((id, i) => ({ id, dependsOn: dag.deps[i].map((d: number) => ids[d]), run: noop })),
    });
    const engine = createEngine({ workers: false });
    for (let i = 0; i < 4; i++) {
      const result = await engine.run(workflow);
      if (result.status !== "completed") throw new Error(`${shape}: ${result.status}`);
    }
    await engine.close();
  }
} else if (mode === "durable") {
  const { openFileLogStore } = await import(new URL("adapters/mod.ts", root).href);
  const dir = await Deno.makeTempDir();
  try {
    const store = await openFileLogStore(`${dir}/log.jsonl`);
    const engine = createEngine({ workers: false, logStore: store });
    const diamond = fan(3);
    for (let i = 0; i < 3_000; i++) await engine.run(diamond);
    await Promise.all(Array.from({ length: 200 }, () => engine.run(diamond)));
    await engine.close();
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
} else if (mode === "steps") {
  const gc = (globalThis as { gc?: () => void }).gc;
  const engine = createEngine({ workers: false });
  for (let block = 1; block <= 4; block++) {
    const t0 = performance.now();
    for (let i = 0; i < 5_000; i++) {
      const workflowId = engine.createWorkflow({ name: "request" });
      engine.addTask(workflowId, { id: "a", run: () => 1 });
      engine.addTask(workflowId, { id: "b", dependsOn: ["a"], run: () => 2 });
      await engine.wait(engine.execute(workflowId));
    }
    const us = ((performance.now() - t0) * 1000) / 5_000;
    gc?.();
    const heap = gc === undefined
      ? "(run with --v8-flags=--expose-gc)"
      : `${(Deno.memoryUsage().heapUsed / 1e6).toFixed(1)} MB`;
    console.log(`${block * 5_000} workflows: ${us.toFixed(1)} µs each; heap after GC ${heap}`);
  }
  await engine.close();
} else {
  console.error("usage: deno run -A bench/workload.ts <small|large|durable|steps> [checkout]");
  Deno.exit(2);
}
