import fc from "npm:fast-check@^4";
import assert from "node:assert/strict";
import { createEngine, defineWorkflow, type TaskDef } from "../mod.ts";
import { dependentsOf, graphOf } from "../src/graph.ts";
import { GrowingGraph } from "../src/graph/growing.ts";

const run = () => null;

Deno.test("a graph grown batch by batch equals the same tasks compiled at once (levels, ranks, dependents, topo)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.array(fc.integer({ min: 0, max: 2 ** 30 }), { minLength: 120, maxLength: 120 }),
      fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 10 }),
      (n, rnd, batches) => {
        // Task k depends on up to 3 earlier tasks; costs vary.
        const defs: TaskDef[] = [];
        for (let k = 0; k < n; k++) {
          const deps = new Set<string>();
          for (let d = 0; d < rnd[k] % 4 && k > 0; d++) deps.add(`t${rnd[(k + d * 7) % 120] % k}`);
          defs.push({ id: `t${k}`, dependsOn: [...deps], cost: 1 + (rnd[k] % 5), run });
        }
        const base = Math.max(1, Math.floor(n / 3));
        const first = defineWorkflow({ name: "g", tasks: defs.slice(0, base) });
        const grown = new GrowingGraph("g", graphOf(first), first.tasks);
        let at = base;
        for (const size of batches) {
          if (at >= n) break;
          grown.add(defs.slice(at, at + size));
          at += size;
        }
        grown.add(defs.slice(at));
        const whole = graphOf(defineWorkflow({ name: "g", tasks: defs }));
        const g = grown.graph;
        assert.equal(g.n, n);
        assert.deepEqual(g.ids, whole.ids);
        for (let i = 0; i < n; i++) {
          assert.equal(g.level[i], whole.level[i], `level of t${i}`);
          assert.equal(g.rank[i], whole.rank[i], `rank of t${i}`);
          assert.deepEqual(dependentsOf(g, i).sort((a, b) => a - b), dependentsOf(whole, i).sort((a, b) => a - b));
          assert.deepEqual(
            Array.from(g.depList.subarray(g.depStart[i], g.depStart[i + 1])),
            Array.from(whole.depList.subarray(whole.depStart[i], whole.depStart[i + 1])),
          );
        }
        const pos = new Map<number, number>();
        g.topo.subarray(0, n).forEach((i, p) => pos.set(i, p));
        assert.equal(pos.size, n);
        for (let i = 0; i < n; i++) {
          for (let k = g.depStart[i]; k < g.depStart[i + 1]; k++) assert.ok(pos.get(g.depList[k])! < pos.get(i)!);
        }
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("a failed add changes nothing: the graph takes the next batch as if it had not happened", () => {
  const wf = defineWorkflow({ name: "g", tasks: [{ id: "a", run }] });
  const grown = new GrowingGraph("g", graphOf(wf), wf.tasks);
  assert.throws(() => grown.add([{ id: "b", dependsOn: ["a"], run }, { id: "c", dependsOn: ["zz"], run }]));
  assert.throws(() => grown.add([{ id: "b", dependsOn: ["c"], run }, { id: "c", dependsOn: ["b"], run }]));
  assert.equal(grown.graph.n, 1);
  grown.add([{ id: "b", dependsOn: ["a"], run }]);
  assert.deepEqual(grown.graph.ids, ["a", "b"]);
  assert.deepEqual(dependentsOf(grown.graph, 0), [1]);
});

Deno.test("a spawned body never runs inside ctx.spawn(): it starts after the call returns", async () => {
  const engine = createEngine();
  const order: string[] = [];
  const wf = defineWorkflow({
    name: "spawn-order",
    tasks: [{
      id: "root",
      run: async (ctx) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        ctx.spawn([{ id: "child", run: () => void order.push("child ran") }]);
        order.push("spawn returned");
        await new Promise((resolve) => setTimeout(resolve, 1));
        ctx.spawn([{ id: "child2", run: () => void order.push("child2 ran") }]);
        order.push("spawn2 returned");
      },
    }],
  });
  const result = await engine.run(wf);
  assert.equal(result.status, "completed");
  assert.deepEqual(order, ["spawn returned", "child ran", "spawn2 returned", "child2 ran"]);
  await engine.close();
});

Deno.test("one spawn per item over 5,000 items: every follow-up runs after its item, with its item's result", async () => {
  const engine = createEngine({ concurrency: 16 });
  const n = 5000;
  const wf = defineWorkflow({
    name: "follow",
    tasks: Array.from({ length: n }, (_, k) => ({
      id: `item/${k}`,
      run: (ctx) => {
        ctx.spawn([{ id: `next/${k}`, dependsOn: [ctx.taskId], run: (c) => (c.deps[`item/${k}`] as number) + 1 }]);
        return k;
      },
    })),
  });
  const result = await engine.run(wf);
  assert.equal(result.status, "completed");
  assert.equal(Object.keys(result.tasks).length, 2 * n);
  for (let k = 0; k < n; k += 97) assert.equal(result.tasks[`next/${k}`].result, k + 1);
  await engine.close();
});
