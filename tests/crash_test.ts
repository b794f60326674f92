/**
 * Crash and resume for real: a child process runs a workflow on the file
 * log store and is killed with SIGKILL at a seeded random moment; sometimes
 * the child that resumes it is killed too; the parent then resumes the run.
 * Every trial must end with the results of an uninterrupted run, and the
 * marker files (one per execution of a task body) must show that no task
 * the log had recorded as completed ran again.
 *
 * Trials: `CRASH_TRIALS` (default 16), seed `CRASH_SEED` (default 1).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine } from "../mod.ts";
import { foldRun } from "../extend.ts";
import { type FlushPolicy, openFileLogStore } from "../adapters/mod.ts";
import { CRASH_TASKS, type CrashResult, crashWorkflow, prng } from "./_crash_workflow.ts";

const CHILD = new URL("./_crash_child.ts", import.meta.url).pathname;
const TRIALS = Number(Deno.env.get("CRASH_TRIALS") ?? 16);
const SEED = Number(Deno.env.get("CRASH_SEED") ?? 1);
const POLICIES: FlushPolicy[] = ["batch", "event", "none"];

/** Starts the child; resolves once it printed "started" (the run exists), with the process. */
async function spawnChild(args: string[]): Promise<{ child: Deno.ChildProcess; exited: Promise<Deno.CommandStatus> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write=/tmp", CHILD, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("started")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  // Keep draining so the child never blocks on a full pipe.
  const drained = (async () => {
    while (!(await reader.read()).done);
  })();
  return { child, exited: child.status.then(async (s) => (await drained, s)) };
}

/** Completed tasks according to what the file holds now (after recovery). */
async function completedInLog(path: string, runId: string): Promise<Set<string>> {
  const store = await openFileLogStore(path, { onRecover: () => {} });
  try {
    const state = foldRun(await store.readRun(runId));
    const out = new Set<string>();
    state?.taskIds.forEach((id, k) => {
      if (state.tasks[k]?.status === "completed") out.add(id);
    });
    return out;
  } finally {
    await store.close();
  }
}

function markersOf(dir: string): { task: string; pid: number; attempt: number }[] {
  return [...Deno.readDirSync(dir)].map((e) => {
    const [task, pid, attempt] = e.name.split(".");
    return { task, pid: Number(pid), attempt: Number(attempt) };
  });
}

Deno.test("a run killed with SIGKILL at random moments resumes to the results of an uninterrupted run, never re-running a completed task", async (t) => {
  // The reference: one uninterrupted run, in memory.
  const reference = createEngine();
  const expected = await reference.run(crashWorkflow(undefined));
  await reference.close();
  assert.equal(expected.status, "completed");
  const expectedResults = Object.fromEntries(Object.entries(expected.tasks).map(([id, r]) => [id, r.result]));

  const rnd = prng(SEED);
  const root = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-crash-" });
  let killedMidRun = 0;
  const completedAtFirstCrash: number[] = [];
  try {
    for (let trial = 0; trial < TRIALS; trial++) {
      const flush = POLICIES[trial % POLICIES.length];
      const twice = rnd() < 0.35;
      const delays = [Math.floor(rnd() * 70), Math.floor(rnd() * 70)];
      await t.step(
        `trial ${trial}: flush ${flush}, kill after ${delays[0]} ms${
          twice ? `, resume killed after ${delays[1]} ms` : ""
        }`,
        async () => {
          const dir = `${root}/${trial}`;
          const markers = `${dir}/markers`;
          await Deno.mkdir(markers, { recursive: true });
          const path = `${dir}/flow.log`;
          const runId = `run-${trial}`;

          // Who ran each round, and what the log held as completed after it.
          const pids: number[] = [];
          const completedAfter: Set<string>[] = [];
          for (let round = 0; round < (twice ? 2 : 1); round++) {
            const { child, exited } = await spawnChild([path, markers, runId, round === 0 ? "start" : "resume", flush]);
            pids.push(child.pid);
            await new Promise((resolve) => setTimeout(resolve, delays[round]));
            try {
              child.kill("SIGKILL");
            } catch {
              // It had finished already.
            }
            const status = await exited;
            if (status.signal === "SIGKILL") killedMidRun++;
            completedAfter.push(await completedInLog(path, runId));
          }
          completedAtFirstCrash.push(completedAfter[0].size);

          // The parent resumes in this process (its pid marks its executions).
          const store = await openFileLogStore(path, { flush, onRecover: () => {} });
          const engine = createEngine({ logStore: store });
          const result = await engine.resume(crashWorkflow(markers), runId);
          await engine.close();
          await store.close();
          pids.push(Deno.pid);

          assert.equal(result.status, "completed");
          const results = Object.fromEntries(Object.entries(result.tasks).map(([id, r]) => [id, r.result]));
          assert.deepEqual(results, expectedResults);

          // No task the log recorded as completed before a crash ran again afterwards.
          const marks = markersOf(markers);
          for (let round = 1; round < pids.length; round++) {
            for (const m of marks.filter((m) => m.pid === pids[round])) {
              assert.ok(
                !completedAfter[round - 1].has(m.task),
                `task ${m.task} was completed in the log after crash ${round}, yet ran again (attempt ${m.attempt})`,
              );
            }
          }
          // Every task ran at least once; every completed task's result is its own.
          for (const id of Object.keys(expectedResults)) {
            assert.ok(marks.some((m) => m.task === id), `task ${id} never ran`);
            assert.equal((result.tasks[id].result as CrashResult).id, id);
          }
        },
      );
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  assert.ok(killedMidRun > 0, "no trial killed a child in the middle of its run");
  // The kills landed at different points of the run, not all before or after it.
  if (Deno.env.get("CRASH_VERBOSE")) console.log("tasks completed at the first crash:", completedAtFirstCrash);
  assert.ok(
    completedAtFirstCrash.some((n) => n > 0 && n < CRASH_TASKS),
    `no trial crashed part way: ${completedAtFirstCrash}`,
  );
});
