// The invariants of DESIGN.md when tasks are added during a run (ctx.spawn),
// when circuit breakers open and close, and when priorities change.
import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { createEngine, createVirtualClock, defineWorkflow, type Priority, type TaskDef } from "../mod.ts";
import { type AnyFlowEvent, importLog } from "../extend.ts";

interface Gen {
  deps: number[];
  fails: boolean;
  breaker: number; // -1 none, else key index
  fallback: boolean;
  keyed: boolean;
  delay: number;
  children: { deps: number[]; fails: boolean; breaker: number }[];
}

const PRIORITIES: readonly Priority[] = ["low", "medium", "high", "critical"];

const genArb: fc.Arbitrary<Gen[]> = fc.array(
  fc.record({
    deps: fc.array(fc.nat(20), { maxLength: 3 }),
    fails: fc.boolean(),
    breaker: fc.integer({ min: -1, max: 1 }),
    fallback: fc.boolean(),
    keyed: fc.boolean(),
    delay: fc.integer({ min: 0, max: 20 }),
    children: fc.array(
      fc.record({
        deps: fc.array(fc.nat(5), { maxLength: 2 }),
        fails: fc.boolean(),
        breaker: fc.integer({ min: -1, max: 1 }),
      }),
      { maxLength: 4 },
    ),
  }),
  { minLength: 1, maxLength: 12 },
);

const scenarioArb = fc.record({
  tasks: genArb,
  ioLimit: fc.integer({ min: 1, max: 4 }),
  keyLimit: fc.integer({ min: 1, max: 2 }),
  threshold: fc.integer({ min: 1, max: 3 }),
  reprioritize: fc.array(fc.tuple(fc.nat(30), fc.constantFrom(...PRIORITIES)), { maxLength: 4 }),
});

Deno.test("invariants 1, 2, 3, 5 and 6 hold with spawned tasks, breakers and priority changes", async () => {
  await fc.assert(
    fc.asyncProperty(scenarioArb, async (s) => {
      const clock = createVirtualClock();
      const engine = createEngine({
        clock,
        limits: { io: s.ioLimit },
        keyLimits: { shared: s.keyLimit },
        breakers: {
          b0: { threshold: s.threshold, cooldownMs: 15, windowMs: 100 },
          b1: { threshold: 1, cooldownMs: 5 },
        },
      });
      const events: AnyFlowEvent[] = [];
      engine.bus.onAny((e) => events.push(e));
      const wait = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
      const body = (fails: boolean, delay: number) => async () => {
        if (delay > 0) await wait(delay);
        if (fails) throw new Error("down");
        return delay;
      };
      const tasks: TaskDef[] = s.tasks.map((g, i) => {
        const id = `t${i}`;
        const dependsOn = i === 0 ? [] : [...new Set(g.deps.map((d) => `t${d % i}`))];
        const def: TaskDef = {
          id,
          dependsOn,
          run: async (ctx) => {
            const result = await body(g.fails, g.delay)();
            const children: TaskDef[] = g.children.map((c, k) => ({
              id: `${id}.${k}`,
              dependsOn: [...new Set(c.deps.filter((d) => d < k).map((d) => `${id}.${d}`))].concat(k % 2 ? [id] : []),
              run: body(c.fails, 3),
              ...(c.breaker >= 0 ? { breaker: `b${c.breaker}` } : {}),
            }));
            if (children.length > 0) ctx.spawn(children);
            return result;
          },
        };
        if (g.breaker >= 0) def.breaker = `b${g.breaker}`;
        if (g.fallback) def.fallback = () => "fallback";
        if (g.keyed) def.concurrencyKey = "shared";
        return def;
      });
      const handle = engine.start(defineWorkflow({ name: "prop", tasks }));
      for (const [k, p] of s.reprioritize) {
        try {
          handle.setPriority(`t${k % tasks.length}`, p);
        } catch (error) {
          if (!(error instanceof TypeError)) throw error;
        }
      }
      const result = await clock.runUntil(handle.result);
      // Every task announced has exactly one terminal event; the run ends after all.
      const deps = new Map<string, readonly string[]>();
      const keyed = new Set(s.tasks.flatMap((g, i) => g.keyed ? [`t${i}`] : []));
      const ends = new Map<string, number>();
      const status = new Map<string, string>();
      let running = 0;
      let runningKeyed = 0;
      const active = new Set<string>();
      events.forEach((e, at) => {
        if (e.runId !== result.runId) return;
        const id = e.taskId!;
        switch (e.type) {
          case "task.pending":
            deps.set(id, e.data.dependsOn);
            break;
          case "task.started":
            // Invariant 1 and 3: every dependency completed before.
            for (const d of deps.get(id)!) assert.equal(status.get(d), "completed", `${id} started before ${d}`);
            active.add(id);
            running++;
            if (keyed.has(id)) runningKeyed++;
            assert.ok(running <= s.ioLimit, "io limit");
            assert.ok(runningKeyed <= s.keyLimit, "key limit");
            break;
          case "task.retrying":
          case "task.completed":
          case "task.failed":
          case "task.skipped":
          case "task.cancelled":
            if (active.delete(id)) {
              running--;
              if (keyed.has(id)) runningKeyed--;
            }
            if (e.type !== "task.retrying") {
              assert.ok(!ends.has(id), `${id} ended twice`);
              ends.set(id, at);
              status.set(id, e.type.slice(5));
            }
            break;
        }
      });
      const end = events.findIndex((e) =>
        e.type.startsWith("workflow.") && e.type !== "workflow.created" &&
        e.type !== "workflow.started"
      );
      for (const id of deps.keys()) {
        assert.ok(ends.has(id), `${id} never ended`);
        assert.ok(ends.get(id)! < end);
      }
      assert.deepEqual(Object.keys(result.tasks).sort(), [...deps.keys()].sort());
      for (const [id, t] of Object.entries(result.tasks)) assert.equal(t.status, status.get(id));
      // Invariant 6: the log folds to the live projections.
      const replayed = importLog(engine.log.toJSON());
      assert.deepEqual(replayed.project("tasks", result.runId), engine.project("tasks", result.runId));
      assert.deepEqual(
        replayed.project("workflowStatus", result.runId),
        engine.project("workflowStatus", result.runId),
      );
      await engine.close();
    }),
    { numRuns: 150 },
  );
});
