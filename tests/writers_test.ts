/**
 * One writer per log, with real processes: a second store on a log (in this
 * process or another one) is refused with a `LogLockedError` naming the
 * holder; a holder killed with SIGKILL leaves the log to the next opener
 * (file: at once, the kernel drops the lock; Deno KV: once its lease has
 * expired); two resumes of one run: one proceeds, the other is refused; a
 * compaction can never run while another writer appends; a file that is not
 * a log is refused and left as it was.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine, defineWorkflow } from "../mod.ts";
import { foldRun } from "../extend.ts";
import { LogLockedError, NotALogError, openFileLogStore, openFileTaskCache, openKvLogStore } from "../adapters/mod.ts";
import { CRASH_TASKS } from "./_crash_workflow.ts";

const CHILD = new URL("./_writer_child.ts", import.meta.url).pathname;
const CRASH_CHILD = new URL("./_crash_child.ts", import.meta.url).pathname;

// deno-lint-ignore no-explicit-any
type Line = Record<string, any>;

/** A child process whose stdout lines (JSON) are read one by one. */
class Child {
  readonly process: Deno.ChildProcess;
  readonly lines: Line[] = [];
  readonly exited: Promise<Deno.CommandStatus>;
  #waiters: (() => void)[] = [];
  constructor(args: string[], stdin: "piped" | "null" = "piped") {
    const process = new Deno.Command(Deno.execPath(), {
      args: ["run", "--unstable-kv", "--allow-read", "--allow-write=/tmp", CHILD, ...args],
      stdin,
      stdout: "piped",
      stderr: "inherit",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.process = process;
    const read = (async () => {
      let buffer = "";
      for await (const chunk of process.stdout.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          this.lines.push(JSON.parse(buffer.slice(0, nl)));
          buffer = buffer.slice(nl + 1);
          for (const w of this.#waiters.splice(0)) w();
        }
      }
      for (const w of this.#waiters.splice(0)) w();
    })();
    this.exited = process.status.then(async (s) => (await read, s));
  }
  get pid(): number {
    return this.process.pid;
  }
  /** Waits for a line that `match` accepts (rejects if the child ends first). */
  async waitFor(match: (line: Line) => boolean): Promise<Line> {
    let done = false;
    this.exited.then(() => done = true);
    for (;;) {
      const found = this.lines.find(match);
      if (found !== undefined) return found;
      if (done) throw new Error(`Child ${this.pid} ended without the line; it printed ${JSON.stringify(this.lines)}`);
      await Promise.race([new Promise<void>((resolve) => this.#waiters.push(resolve)), this.exited]);
    }
  }
  /** Closes its stdin (a holder then closes its store and exits). */
  async finish(): Promise<Deno.CommandStatus> {
    await this.process.stdin.close().catch(() => {});
    return await this.exited;
  }
  async kill(): Promise<Deno.CommandStatus> {
    try {
      this.process.kill("SIGKILL");
    } catch {
      // ended already
    }
    await this.process.stdin?.close().catch(() => {});
    return await this.exited;
  }
}

/** Runs the `open` mode in a child: whether it opened the log, or its refusal. */
async function openInChild(kind: "file" | "kv", path: string): Promise<Line> {
  const child = new Child(["open", kind, path], "null");
  const line = await child.waitFor(() => true);
  await child.exited;
  return line;
}

/** The error `promise` rejects with, checked to be an instance of `type`. */
async function refusal<E extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof type, `expected a ${type.name}, got ${error}`);
    return error;
  }
  throw new assert.AssertionError({ message: `expected a ${type.name}, nothing was thrown` });
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-writers-" });
}

Deno.test("a second file store on one log in the same process is refused with a LogLockedError naming the holder", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/flow.log`;
    const first = await openFileLogStore(path);
    const error = await refusal(openFileLogStore(path), LogLockedError);
    assert.equal(error.path, path);
    assert.equal(error.holder?.pid, Deno.pid);
    assert.equal(error.holder?.token, first.holder.token);
    assert.equal(error.holder?.since, first.holder.since);
    assert.match(error.message, new RegExp(`another writer holds it \\(pid ${Deno.pid} on "[^"]+" since \\d{4}-`));
    // Another spelling of the path, or a symlink to the file, finds the same lock.
    await refusal(openFileLogStore(`${dir}/./flow.log`), LogLockedError);
    assert.ok((await new Deno.Command("ln", { args: ["-s", path, `${dir}/link.log`] }).output()).success);
    assert.equal(
      (await refusal(openFileLogStore(`${dir}/link.log`), LogLockedError)).holder?.token,
      first.holder.token,
    );
    // The first store goes on working, and both its runs read back.
    const engine = createEngine({ logStore: first });
    const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] });
    const [r1, r2] = await Promise.all([engine.run(wf), engine.run(wf)]);
    await engine.close();
    assert.equal(foldRun({ events: await first.read(r1.runId) })?.status, "completed");
    assert.equal(foldRun({ events: await first.read(r2.runId) })?.status, "completed");
    await first.close();
    // Released on close: the next opener gets it.
    const next = await openFileLogStore(path);
    assert.deepEqual(next.runs(), [r1.runId, r2.runId]);
    await next.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file that is not a log is refused with a NotALogError and left as it was", async (t) => {
  const dir = await tempDir();
  try {
    const cases: [string, string][] = [
      ["plain text", "hello\nworld\n"],
      ["JSON lines of another program", '{"format":"nerv-flow/log","version":1}\n{"seq":1}\n'],
      ["a record-like first line that is not valid", '{"crc":"zzzzzzzz","seq":1,"key":"r","event":{}}\n'],
      ["one line without a newline", "not a log at all"],
    ];
    for (const [name, text] of cases) {
      await t.step(name, async () => {
        const path = `${dir}/${name.replaceAll(" ", "_")}`;
        await Deno.writeTextFile(path, text);
        const error = await refusal(openFileLogStore(path), NotALogError);
        assert.equal(error.path, path);
        assert.equal(await Deno.readTextFile(path), text);
        // Refused, the lock is released: the same process may try again.
        await assert.rejects(openFileLogStore(path), NotALogError);
      });
    }
    await t.step("the file task cache refuses such a file too", async () => {
      const path = `${dir}/cache.txt`;
      await Deno.writeTextFile(path, "hello\n");
      const error = await refusal(openFileTaskCache(path), NotALogError);
      assert.match(error.message, /is not a nerv-flow task cache file/);
      assert.equal(await Deno.readTextFile(path), "hello\n");
    });
    await t.step("a first record cut short is still a log: recovered, not refused", async () => {
      const path = `${dir}/torn`;
      await Deno.writeTextFile(path, '{"crc":"0123abcd","seq":1,"key":"r","ev');
      let reported = 0;
      const store = await openFileLogStore(path, { onRecover: () => reported++ });
      assert.equal(reported, 1);
      assert.equal(store.size, 0);
      await store.close();
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file log held by another process is refused naming it; once the holder is SIGKILLed the next opener gets it with every acknowledged run", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/flow.log`;
    const holder = new Child(["hold", "file", path]);
    await holder.waitFor((l) => l.ready);
    // Refused in this process and in a third one, while the holder keeps appending.
    const error = await refusal(openFileLogStore(path), LogLockedError);
    assert.equal(error.holder?.pid, holder.pid);
    const other = await openInChild("file", path);
    assert.equal(other.refused, "LogLockedError");
    assert.equal(other.holder.pid, holder.pid);
    await holder.waitFor((l) => holder.lines.filter((x) => x.acked).length >= 5 && l.acked !== undefined);
    const status = await holder.kill();
    assert.equal(status.signal, "SIGKILL");
    const acked = holder.lines.filter((l) => l.acked).map((l) => l.acked as string);
    // The kernel dropped the lock with the process: no stale lock, no waiting.
    const store = await openFileLogStore(path, { onRecover: () => {} });
    try {
      for (const runId of acked) assert.equal(foldRun(await store.readRun(runId))?.status, "completed");
    } finally {
      await store.close();
    }
    assert.deepEqual(await openInChild("file", path), { opened: true });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compact() cannot drop what another writer appends: while a process writes, no other store can open the log to compact it", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/flow.log`;
    const writer = new Child(["hold", "file", path]);
    await writer.waitFor((l) => l.ready);
    await writer.waitFor((l) => l.acked !== undefined);
    // The would-be compactor is refused before it can read or replace the file.
    await assert.rejects(async () => {
      const store = await openFileLogStore(path);
      try {
        await store.compact();
      } finally {
        await store.close();
      }
    }, LogLockedError);
    await writer.waitFor(() => writer.lines.filter((x) => x.acked).length >= 10);
    assert.equal((await writer.finish()).code, 0);
    const acked = writer.lines.filter((l) => l.acked).map((l) => l.acked as string);
    // Now the log is free: compaction keeps every run the writer acknowledged.
    const store = await openFileLogStore(path);
    try {
      const report = await store.compact();
      assert.equal(report.runsCompacted, acked.length);
      for (const runId of acked) assert.equal(foldRun(await store.readRun(runId))?.status, "completed");
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two processes resuming one run of a file log: one proceeds, the other is refused naming it, and no task runs twice", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/flow.log`;
    const markers = `${dir}/markers`;
    await Deno.mkdir(markers);
    // A run cut off by SIGKILL once it is stored.
    const first = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write=/tmp", CRASH_CHILD, path, markers, "r1", "start", "batch"],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = first.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("started")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    first.kill("SIGKILL");
    await reader.cancel();
    await first.status;

    const resumers = [new Child(["resume", path, markers, "r1"]), new Child(["resume", path, markers, "r1"])];
    const outcomes = await Promise.all(resumers.map((c) => c.waitFor((l) => l.resumed || l.refused)));
    const winner = outcomes.findIndex((o) => o.resumed !== undefined);
    assert.ok(winner >= 0, `neither resumed: ${JSON.stringify(outcomes)}`);
    const loser = outcomes[1 - winner];
    assert.equal(outcomes[winner].resumed, "completed");
    assert.equal(loser.refused, "LogLockedError");
    assert.equal(loser.holder.pid, resumers[winner].pid);
    for (const c of resumers) assert.equal((await c.finish()).code, 0);
    // The refused process ran no task body; after the crash, each task ran in one process at most.
    const marks = [...Deno.readDirSync(markers)].map((e) => e.name.split("."));
    assert.ok(!marks.some(([, pid]) => Number(pid) === resumers[1 - winner].pid));
    const store = await openFileLogStore(path);
    try {
      const state = foldRun(await store.readRun("r1"));
      assert.equal(state?.status, "completed");
      assert.equal(state?.tasks.filter((t) => t?.status === "completed").length, CRASH_TASKS);
      const events = await store.read("r1");
      const seqs = events.map((e) => e.seq);
      assert.equal(new Set(seqs).size, seqs.length, "duplicate seqs in the log");
      assert.equal(events.filter((e) => e.type === "task.completed").length, CRASH_TASKS);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second KV store on one prefix is refused with a LogLockedError; another prefix is free; close() gives the lease up", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const first = await openKvLogStore({ kv });
    const error = await refusal(openKvLogStore({ kv }), LogLockedError);
    assert.equal(error.path, "nerv-flow");
    assert.equal(error.holder?.pid, Deno.pid);
    assert.equal(error.holder?.token, first.holder.token);
    assert.ok(Date.parse(error.holder?.expiresAt ?? "") > Date.now());
    const other = await openKvLogStore({ kv, prefix: "other" });
    await other.close();
    await first.close();
    const next = await openKvLogStore({ kv });
    await next.close();
    await assert.rejects(openKvLogStore({ kv, leaseMs: 5 }), RangeError);
  } finally {
    kv.close();
  }
});

Deno.test("a KV writer whose lease was taken over can write nothing more: every commit checks the lease", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const stale = await openKvLogStore({ kv });
    const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] });
    const engine = createEngine({ logStore: stale });
    const { runId } = await engine.run(wf);
    await engine.close();
    // What a takeover after expiry does (the holder froze past its lease): the lease changes hands.
    await kv.delete(["nerv-flow", "m", "lease"]);
    const fresh = await openKvLogStore({ kv });
    const event = (await stale.read(runId)).at(-1)!;
    const error = await refusal(stale.append([{ ...event, seq: event.seq + 1 }]), LogLockedError);
    assert.equal(error.holder?.token, fresh.holder.token);
    assert.match(error.message, /lease expired and was taken over/);
    // Nothing of the stale writer's landed: the new holder sees the run as it was.
    assert.deepEqual((await fresh.read(runId)).map((e) => e.seq), (await stale.read(runId)).map((e) => e.seq));
    assert.equal((await fresh.read(runId)).at(-1)?.seq, event.seq);
    await stale.close();
    await fresh.close();
  } finally {
    kv.close();
  }
});

Deno.test("a KV store's lease: renewed while its process writes, taken over once it expires after a SIGKILL, and the old writes are all there", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/flow.kv`;
    const leaseMs = 1000;
    const holder = new Child(["hold", "kv", path, String(leaseMs)]);
    await holder.waitFor((l) => l.ready);
    // Several lease periods later the holder still holds it: it renews.
    await holder.waitFor(() => holder.lines.filter((x) => x.acked).length >= 3);
    await new Promise((resolve) => setTimeout(resolve, leaseMs * 2.5));
    const refused = await openInChild("kv", path);
    assert.equal(refused.refused, "LogLockedError");
    assert.equal(refused.holder.pid, holder.pid);
    assert.equal(typeof refused.holder.expiresAt, "string");
    assert.equal((await holder.kill()).signal, "SIGKILL");
    const acked = holder.lines.filter((l) => l.acked).map((l) => l.acked as string);
    // The lease outlives its holder until it expires; then the next opener takes it over.
    let store;
    for (let attempt = 0; store === undefined; attempt++) {
      try {
        store = await openKvLogStore({ path });
      } catch (error) {
        assert.ok(error instanceof LogLockedError, String(error));
        assert.equal(error.holder?.pid, holder.pid);
        assert.ok(attempt < 200, "the lease never expired");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    try {
      for (const runId of acked) assert.equal(foldRun(await store.readRun(runId))?.status, "completed");
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two processes opening one KV log at once: exactly one gets the lease", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/flow.kv`;
    const children = [new Child(["hold", "kv", path]), new Child(["hold", "kv", path])];
    const outcomes = await Promise.all(children.map((c) => c.waitFor((l) => l.ready || l.refused)));
    const winners = outcomes.filter((o) => o.ready);
    assert.equal(winners.length, 1, JSON.stringify(outcomes));
    const winner = children[outcomes.findIndex((o) => o.ready)];
    const loser = outcomes.find((o) => !o.ready)!;
    assert.equal(loser.refused, "LogLockedError");
    assert.equal(loser.holder.pid, winner.pid);
    for (const c of children) assert.equal((await c.finish()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a refused opener names the holder that took the lock, not the killed holder whose name it overwrites", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/flow.log`;
    const store = await openFileLogStore(path);
    await store.close();
    // A holder killed while it held the lock left its name behind.
    const dead = { pid: 999_999, host: "gone", since: new Date(0).toISOString(), token: "dead" };
    await Deno.writeTextFile(`${path}.lock`, JSON.stringify(dead) + "\n");
    // The next holder has locked the side file and not yet written its name: a refused opener reads the dead one...
    const side = await Deno.open(`${path}.lock`, { read: true, write: true });
    assert.equal(await side.tryLock(true), true);
    const refused = assert.rejects(openFileLogStore(path), LogLockedError);
    const error = openFileLogStore(path).then(() => undefined, (e) => e as LogLockedError);
    // ...until the holder writes its own, a moment later: that is the one to name.
    await new Promise((resolve) => setTimeout(resolve, 10));
    const now = { pid: Deno.pid, host: "here", since: new Date().toISOString(), token: "now" };
    await Deno.writeTextFile(`${path}.lock`, JSON.stringify(now) + "\n");
    await refused;
    assert.equal((await error)?.holder?.token, "now");
    await side.unlock();
    side.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
