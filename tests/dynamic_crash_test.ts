/**
 * Crash and resume of a run that added tasks, for real: a child process runs
 * a workflow whose task adds a map over 40 items (`ctx.spawn`) on the file
 * log store and is killed with SIGKILL while the items run; the parent then
 * resumes the run from the file. The result must be an uninterrupted run's,
 * and no added task the log held as completed may run again (the spawner
 * runs again by design: its spawns are matched by id).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine } from "../mod.ts";
import { foldRun } from "../extend.ts";
import { openFileLogStore } from "../adapters/mod.ts";
import { ITEMS, spawnWorkflow } from "./_crash_spawn_child.ts";

const CHILD = new URL("./_crash_spawn_child.ts", import.meta.url).pathname;

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

Deno.test("a run that added tasks, killed with SIGKILL mid-map, resumes without re-running completed added tasks", async (t) => {
  const root = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-crash-spawn-" });
  const expected = (ITEMS * (ITEMS - 1) * (2 * ITEMS - 1)) / 6;
  try {
    for (const [trial, minDone] of [[0, 4], [1, 15], [2, 30]]) {
      await t.step(`killed once ${minDone} items ran`, async () => {
        const dir = `${root}/${trial}`;
        const markers = `${dir}/markers`;
        await Deno.mkdir(markers, { recursive: true });
        const path = `${dir}/flow.log`;
        const runId = `run-${trial}`;
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "--allow-read", "--allow-write=/tmp", CHILD, path, markers, runId, "start"],
          stdin: "null",
          stdout: "null",
          stderr: "inherit",
        }).spawn();
        // Kill it once enough items left their markers (they are running or done).
        for (let i = 0; i < 2000; i++) {
          const ran = [...Deno.readDirSync(markers)].filter((e) => e.name.startsWith("sq_")).length;
          if (ran >= minDone) break;
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        try {
          child.kill("SIGKILL");
        } catch {
          // It had finished already.
        }
        const status = await child.status;
        const before = await completedInLog(path, runId);
        const store = await openFileLogStore(path, { onRecover: () => {} });
        const engine = createEngine({ logStore: store });
        const result = await engine.resume(spawnWorkflow(markers), runId);
        await engine.close();
        await store.close();
        assert.equal(result.status, "completed");
        assert.equal(result.tasks.sq.result, expected);
        assert.equal(Object.keys(result.tasks).length, ITEMS + 2);
        const mine = [...Deno.readDirSync(markers)].map((e) => e.name).filter((n) => n.endsWith(`.${Deno.pid}`));
        for (const name of mine) {
          const id = name.slice(0, name.lastIndexOf(".")).replace("_", "/");
          // The spawner runs again by design (its spawns are matched by id); nothing else that completed does.
          if (id !== "plan") {
            assert.ok(!before.has(id), `task ${id} was completed in the log before the crash, yet ran again`);
          }
        }
        if (status.signal === "SIGKILL") {
          // Killed mid-run: the items completed before the crash did not run here.
          const items = [...before].filter((id) => id.startsWith("sq/")).length;
          assert.equal(mine.filter((n) => n.startsWith("sq_")).length, ITEMS - items);
        }
      });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
