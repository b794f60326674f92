/**
 * The Deno KV log store and the durable task caches (KV and file). Deno KV
 * needs `--unstable-kv`; deno.json enables it for this project.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine, createVirtualClock, defineWorkflow, loadLog, type TaskDef } from "../mod.ts";
import { foldRun } from "../extend.ts";
import { openFileTaskCache, openKvLogStore, openKvTaskCache } from "../adapters/mod.ts";

Deno.test("the KV store keeps events (large ones in parts), lists runs and reads a run from its checkpoint", async () => {
  const store = await openKvLogStore({ path: ":memory:", runCheckpointEvery: 10 });
  try {
    const n = 20;
    const tasks: TaskDef[] = Array.from({ length: n }, (_, i) => ({
      id: `t${i}`,
      dependsOn: i === 0 ? [] : [`t${i - 1}`],
      run: () => "é".repeat(i * 5_000), // up to ~95,000 characters: several KV values
    }));
    const engine = createEngine({ logStore: store });
    const result = await engine.run(defineWorkflow({ name: "kv", tasks }));
    const live = engine.project("tasks", result.runId);
    await engine.close();
    assert.deepEqual(await store.runs(), [result.runId]);
    const events = await store.read(result.runId);
    assert.equal(events.length, engine.log.events(result.runId).length);
    assert.equal(store.lastSeq, events.at(-1)!.seq);
    const stored = await store.readRun(result.runId);
    assert.ok(stored.checkpoint !== undefined);
    assert.ok(stored.events.length < events.length);
    assert.deepEqual(foldRun(stored), foldRun({ events }));
    assert.deepEqual((await loadLog(store)).project("tasks", result.runId), live);
  } finally {
    await store.close();
  }
});

Deno.test("the KV store's compact() keeps each ended run's final state", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = await openKvLogStore({ kv, flush: "event" });
    const engine = createEngine({ logStore: store });
    const wf = defineWorkflow({
      name: "kv",
      tasks: [{ id: "a", run: () => 1 }, { id: "b", dependsOn: ["a"], run: () => 2 }],
    });
    const { runId } = await engine.run(wf);
    const before = foldRun({ events: await store.read(runId) });
    await engine.close();
    const report = await store.compact();
    assert.equal(report.runsCompacted, 1);
    assert.deepEqual(await store.read(runId), []);
    const stored = await store.readRun(runId);
    assert.deepEqual(stored.checkpoint?.state, before);
    // The next store on the same database (one writer at a time) sees the same and numbers after it.
    await store.close();
    const again = await openKvLogStore({ kv });
    assert.equal(again.lastSeq, store.lastSeq);
    const engine2 = createEngine({ logStore: again });
    assert.equal((await engine2.resume(wf, runId)).tasks.b.result, 2);
    await engine2.close();
    await again.close();
  } finally {
    kv.close();
  }
});

Deno.test("the KV task cache serves an entry until it expires, checked by the engine's clock", async () => {
  const clock = createVirtualClock(1_000);
  const cache = await openKvTaskCache({ path: ":memory:", clock });
  try {
    await cache.set("k", { value: { big: "x".repeat(70_000) }, createdAt: 1_000, expiresAt: 1_100 });
    assert.equal(((await cache.get("k"))?.value as { big: string }).big.length, 70_000);
    clock.advance(100);
    assert.equal(await cache.get("k"), undefined);
    await assert.rejects(
      cache.set("huge", { value: "y".repeat(700_000), createdAt: 0, expiresAt: 2_000 }),
      RangeError,
    );
  } finally {
    await cache.close();
  }
});

Deno.test("the file task cache keeps entries across reopening, drops expired ones, and recovers a torn tail", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-cache-" });
  try {
    const path = `${dir}/cache.jsonl`;
    let now = 0;
    const clock = { now: () => now, setTimeout: () => 0, clearTimeout: () => {} };
    const cache = await openFileTaskCache(path, { clock });
    await cache.set("live", { value: [1, 2], createdAt: 0, expiresAt: 1_000 });
    await cache.set("short", { value: "s", createdAt: 0, expiresAt: 10 });
    await cache.set("live", { value: [3], createdAt: 0, expiresAt: 1_000 });
    await cache.close();
    now = 50;
    await Deno.writeTextFile(path, '{"crc":1,"seq":0,"key":"torn","en', { append: true });
    let recovered = 0;
    const again = await openFileTaskCache(path, { clock, onRecover: () => recovered++ });
    assert.equal(recovered, 1);
    assert.deepEqual(again.get("live")?.value, [3]);
    assert.equal(again.get("short"), undefined);
    await again.compact();
    await again.close();
    const lines = (await Deno.readTextFile(path)).trim().split("\n");
    assert.equal(lines.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without --unstable-kv, opening a KV store fails with a TypeError that says what to do", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-nokv-" });
  try {
    const script = `${dir}/main.js`;
    const adapters = new URL("../adapters/mod.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { openKvLogStore } from ${JSON.stringify(adapters)};
try { await openKvLogStore({ path: ":memory:" }); console.log("opened"); }
catch (e) { console.log(e.name + ": " + e.message); }`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--allow-read", script],
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(output.stdout).trim();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.match(stdout, /^TypeError: Cannot open Deno KV: Deno\.openKv is not available; run Deno with --unstable-kv/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
