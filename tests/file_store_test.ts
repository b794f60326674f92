/**
 * The file log store: its line format, flush policies, recovery from a
 * damaged tail, refusal of damage in the middle, checkpoints, compaction.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine, defineWorkflow, LogCorruptedError, type TaskDef } from "../mod.ts";
import { foldRun } from "../extend.ts";
import { type FileLogStore, type FlushPolicy, openFileLogStore, type RecoveryReport } from "../adapters/mod.ts";
import { crc32 } from "../adapters/_records.ts";
import { settle } from "./_stores.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-file-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const diamond = defineWorkflow({
  name: "diamond",
  tasks: [
    { id: "a", run: () => ({ words: ["x", "y"] }) },
    { id: "b", dependsOn: ["a"], run: ({ deps }) => (deps.a as { words: string[] }).words.length },
    { id: "c", dependsOn: ["a"], run: () => "ü — non-ASCII is fine" },
    { id: "d", dependsOn: ["b", "c"], run: ({ deps }) => `${deps.b} ${deps.c}` },
  ],
});

/** Runs the diamond on a store at `path`; returns the run id and the engine's events. */
async function runOn(path: string, flush: FlushPolicy = "batch", runId?: string) {
  const store = await openFileLogStore(path, { flush, onRecover: () => {} });
  const engine = createEngine({ logStore: store });
  const result = await engine.run(diamond, { runId });
  const events = engine.log.events(result.runId);
  await engine.close();
  await store.close();
  return { runId: result.runId, events, result };
}

Deno.test("the file store writes one JSON record per line, with the body's CRC-32", async () => {
  await withDir(async (dir) => {
    const { events } = await runOn(`${dir}/f.log`);
    const text = await Deno.readTextFile(`${dir}/f.log`);
    assert.ok(text.endsWith("\n"));
    const lines = text.slice(0, -1).split("\n");
    assert.equal(lines.length, events.length);
    lines.forEach((line, i) => {
      const record = JSON.parse(line);
      assert.deepEqual(Object.keys(record), ["crc", "seq", "key", "event"]);
      assert.deepEqual(record.event, JSON.parse(JSON.stringify(events[i])));
      const body = new TextEncoder().encode(JSON.stringify(record.event));
      assert.equal(record.crc, crc32(body).toString(16).padStart(8, "0"));
    });
  });
});

Deno.test("every flush policy stores the events the engine logged, and reads them back", async (t) => {
  for (const flush of ["event", "batch", "none"] as const) {
    await t.step(flush, async () => {
      await withDir(async (dir) => {
        const { runId, events, result } = await runOn(`${dir}/f.log`, flush);
        assert.equal(result.tasks.d.result, "2 ü — non-ASCII is fine");
        const store = await openFileLogStore(`${dir}/f.log`);
        assert.deepEqual(await store.read(runId), JSON.parse(JSON.stringify(events)));
        assert.deepEqual(store.runs(), [runId]);
        assert.equal(store.lastSeq, events.at(-1)!.seq);
        await store.close();
      });
    });
  }
});

Deno.test("a second engine on the same file numbers its events after the stored ones", async () => {
  await withDir(async (dir) => {
    const first = await runOn(`${dir}/f.log`);
    const second = await runOn(`${dir}/f.log`);
    assert.ok(second.events[0].seq > first.events.at(-1)!.seq);
    const store = await openFileLogStore(`${dir}/f.log`);
    assert.deepEqual(store.runs(), [first.runId, second.runId]);
    await store.close();
  });
});

Deno.test("a damaged tail is cut off at open and reported; the store goes on after the last valid record", async (t) => {
  const damages: [string, (valid: Uint8Array, lastLine: Uint8Array) => Uint8Array][] = [
    ["half of a last record (torn write)", (_, last) => last.subarray(0, Math.floor(last.length / 2))],
    ["a last record without its newline", (_, last) => last.subarray(0, last.length - 1)],
    ["garbage bytes", () => new Uint8Array([0, 0, 0, 0xff, 0x0a, 0x13, 0x37, 0x0a, 0x7b])],
    ["zeros after a crash", () => new Uint8Array(4096)],
  ];
  for (const [name, damage] of damages) {
    await t.step(name, async () => {
      await withDir(async (dir) => {
        const path = `${dir}/f.log`;
        const { runId, events } = await runOn(path);
        const valid = await Deno.readFile(path);
        const lines = new TextDecoder().decode(valid).slice(0, -1).split("\n");
        // The damage: a copy of the last record's bytes, torn, or garbage, after the valid records.
        const last = new TextEncoder().encode(lines.at(-1)! + "\n");
        const bad = damage(valid, last);
        await Deno.writeFile(path, bad, { append: true });
        const reports: RecoveryReport[] = [];
        const store = await openFileLogStore(path, { onRecover: (r) => reports.push(r) });
        assert.equal(reports.length, 1);
        assert.equal(store.recovery, reports[0]);
        assert.equal(reports[0].line, lines.length + 1);
        assert.equal(reports[0].validBytes, valid.length);
        assert.equal(reports[0].droppedBytes, bad.length);
        assert.equal((await Deno.stat(path)).size, valid.length);
        assert.deepEqual(await store.read(runId), JSON.parse(JSON.stringify(events)));
        await store.close();
        // Appending after recovery leaves a valid file.
        const again = await runOn(path);
        const reopened = await openFileLogStore(path, { onRecover: () => assert.fail("no damage expected") });
        assert.equal((await reopened.read(again.runId)).length, again.events.length);
        await reopened.close();
      });
    });
  }
});

Deno.test("damage followed by valid records is refused with LogCorruptedError naming the line", async (t) => {
  const cases: [string, (line: string) => string, string][] = [
    ["a flipped byte in a body", (line) => line.replace('"type":"task.', '"type":"tusk.'), "checksum mismatch"],
    ["a line cut short", (line) => line.slice(0, 30), "bad header"],
    ["a line that is not a record", () => "hello", "not a record"],
    ["an empty line", () => "", "empty line"],
  ];
  for (const [name, corrupt, reason] of cases) {
    await t.step(name, async () => {
      await withDir(async (dir) => {
        const path = `${dir}/f.log`;
        await runOn(path);
        const lines = (await Deno.readTextFile(path)).split("\n");
        lines[4] = corrupt(lines[4]);
        await Deno.writeTextFile(path, lines.join("\n"));
        await assert.rejects(
          openFileLogStore(path, { onRecover: () => assert.fail("must not recover from damage in the middle") }),
          (e) =>
            e instanceof LogCorruptedError && e.line === 5 && e.reason.startsWith(reason) && e.path === path &&
            /line 5 /.test(e.message),
        );
        // Nothing was cut.
        assert.equal((await Deno.readTextFile(path)).split("\n")[4], corrupt(lines[4]));
      });
    });
  }
});

Deno.test("a record damaged after open is an error when read, never skipped", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/f.log`;
    const { runId } = await runOn(path);
    const store = await openFileLogStore(path);
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.replace('"task.ready"', '"task.reedy"'));
    await assert.rejects(store.read(runId), LogCorruptedError);
    await store.close();
  });
});

Deno.test("the log checkpoints long runs: readRun() gives the latest checkpoint and only the events after it", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/f.log`;
    const n = 50;
    const tasks: TaskDef[] = Array.from({ length: n }, (_, i) => ({
      id: `t${i}`,
      dependsOn: i === 0 ? [] : [`t${i - 1}`],
      run: () => i,
    }));
    const store = await openFileLogStore(path, { runCheckpointEvery: 20 });
    const engine = createEngine({ logStore: store });
    const { runId } = await engine.run(defineWorkflow({ name: "long", tasks }));
    await engine.close();
    const all = await store.read(runId);
    const stored = await store.readRun(runId);
    assert.ok(stored.checkpoint !== undefined);
    assert.ok(stored.events.length < all.length / 2, `${stored.events.length} of ${all.length} events read`);
    assert.ok(stored.events.every((e) => e.seq > stored.checkpoint!.seq));
    assert.deepEqual(foldRun(stored), foldRun({ events: all }));
    await store.close();
  });
});

Deno.test("compact() replaces each ended run by its final checkpoint and keeps unfinished runs whole", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/f.log`;
    const ended = await runOn(path);
    // An unfinished run: a copy of the file taken while a task runs.
    const store = await openFileLogStore(path);
    const engine = createEngine({ logStore: store });
    let release = () => {};
    const blocked = new Promise<void>((resolve) => release = resolve);
    const handle = engine.start(defineWorkflow({ name: "open", tasks: [{ id: "wait", run: () => blocked }] }));
    while (!engine.log.events(handle.id).some((e) => e.type === "task.started")) await settle();
    await engine.log.sync();
    await Deno.copyFile(path, `${dir}/copy.log`);
    release();
    await handle.result;
    await engine.close();
    await store.close();

    const copy: FileLogStore = await openFileLogStore(`${dir}/copy.log`);
    const unfinishedBefore = await copy.read(handle.id);
    const endedState = foldRun({ events: await copy.read(ended.runId) });
    const report = await copy.compact();
    assert.equal(report.runsCompacted, 1);
    assert.equal(report.recordsDropped, ended.events.length - 1);
    assert.ok(report.bytesAfter < report.bytesBefore);
    assert.deepEqual(await copy.read(ended.runId), []);
    const compacted = await copy.readRun(ended.runId);
    assert.deepEqual(compacted.checkpoint?.state, endedState);
    assert.deepEqual(await copy.read(handle.id), unfinishedBefore);
    await copy.close();
    // The compacted file opens clean; an ended run still resumes to its result.
    const reopened = await openFileLogStore(`${dir}/copy.log`, { onRecover: () => assert.fail("clean file expected") });
    assert.equal(reopened.lastSeq, unfinishedBefore.at(-1)!.seq);
    const engine2 = createEngine({ logStore: reopened });
    const result = await engine2.resume(diamond, ended.runId);
    assert.equal(result.tasks.d.result, ended.result.tasks.d.result);
    await engine2.close();
    await reopened.close();
  });
});

Deno.test("openFileLogStore() rejects a bad flush policy", async () => {
  await assert.rejects(openFileLogStore("/tmp/unused.log", { flush: "sometimes" as FlushPolicy }), RangeError);
});
