// A fixed small-run workload for before/after comparisons of whole processes: 30,000 runs of a 5-task diamond, then
// 7,500 runs of a 20-task fan-out, one after another on one engine (workers: false, default retention), no-op
// bodies. It prints nothing; time it from outside, the two checkouts taken in turns, e.g.
//   for i in 1 2 3 4 5; do for c in ../before .; do /usr/bin/time -f "$c %e s wall %U+%S s cpu %M KiB" \
//     deno run -A bench/small_workload.ts $c; done; done
// Usage: deno run -A bench/small_workload.ts [checkout (default: this one)] [diamond runs (default 30000)]
const root = Deno.args[0] === undefined
  ? new URL("..", import.meta.url).href
  : new URL(`${Deno.args[0]}/`, `file://${Deno.cwd()}/`).href;
const n = Number(Deno.args[1] ?? 30_000);
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
const engine = createEngine({ workers: false });
const diamond = fan(3);
const wide = fan(18);
for (let i = 0; i < n; i++) await engine.run(diamond);
for (let i = 0; i < n / 4; i++) await engine.run(wide);
await engine.close();
