/**
 * The append-only file log store: one JSON record per line (events and run
 * checkpoints), each with a CRC-32 of its body, written and synced before
 * the engine acknowledges the events.
 *
 * @module
 */
import { LogCorruptedError } from "../mod.ts";
import { type AnyFlowEvent, foldRun, type LogStore, type RunCheckpoint, type StoredRun } from "../extend.ts";
import {
  cutDamagedTail,
  type Damage,
  encodeRecord,
  encodeRecords,
  notARecordFile,
  parseBody,
  type RecordInput,
  scanFile,
  type ScannedLine,
  scanRecord,
} from "./_records.ts";
import { type FileLock, lockFile } from "./_lock.ts";
import { type LogHolder, NotALogError } from "./errors.ts";

/**
 * When the file store syncs what it wrote:
 * - `event`: each event is written and synced (`fdatasync`) on its own before the next;
 * - `batch`: the events handed over together (and any that queue up meanwhile) are written at once and synced once (group commit);
 * - `none`: written, never synced: survives the process dying (SIGKILL), not the machine (power loss, kernel panic).
 */
export type FlushPolicy = "event" | "batch" | "none";

/** Options of {@linkcode openFileLogStore}. */
export interface FileLogStoreOptions {
  /**
   * When writes are synced to disk; events are acknowledged only after.
   * @default {"batch"}
   */
  flush?: FlushPolicy;
  /**
   * The log writes a checkpoint of a run every this many of its events (at
   * least as many as the run has tasks), so that resuming it reads only the
   * records after the checkpoint. `Infinity`: no checkpoints.
   * @default {10000}
   */
  runCheckpointEvery?: number;
  /** Told when a damaged tail was cut off at open. Default: a `console.warn`. */
  onRecover?: (report: RecoveryReport) => void;
}

/** What opening the file recovered from: a damaged tail, cut off. */
export interface RecoveryReport {
  /** The file. */
  path: string;
  /** The first damaged line, from 1. */
  line: number;
  /** Why it is not a valid record. */
  reason: string;
  /** Bytes kept: the file now ends after the last valid record. */
  validBytes: number;
  /** Bytes cut off. */
  droppedBytes: number;
}

/** What {@linkcode FileLogStore.compact} did. */
export interface CompactionReport {
  /** Ended runs whose records were replaced by one final checkpoint. */
  runsCompacted: number;
  /** Records dropped. */
  recordsDropped: number;
  /** File size before, in bytes. */
  bytesBefore: number;
  /** File size after, in bytes. */
  bytesAfter: number;
}

/** The file log store. */
export interface FileLogStore extends LogStore {
  /** The file's path. */
  readonly path: string;
  /** The flush policy. */
  readonly flush: FlushPolicy;
  /** Always `true`: the engine acknowledges events once they are written by the flush policy. */
  readonly durable: true;
  /** The highest seq in the file. */
  readonly lastSeq: number;
  /** How often runs are checkpointed, in events. */
  readonly runCheckpointEvery: number;
  /** The damage cut off at open, if any. */
  readonly recovery: RecoveryReport | undefined;
  /** This store's hold on the file (pid, host, since, token): what a refused second opener is told. */
  readonly holder: LogHolder;
  /** The file's size in bytes, queued writes included. */
  readonly size: number;
  /**
   * Writes events, in order, by the flush policy.
   *
   * @param events The events.
   * @returns When they are written (and synced, unless the policy is `none`).
   * @throws {Error} A write failed (as a rejection); the store refuses further writes.
   */
  append(events: readonly AnyFlowEvent[]): Promise<void>;
  /**
   * Every event the file holds for a run, in order.
   *
   * @param runId The run.
   * @returns Its events (empty for an unknown run).
   */
  read(runId: string): Promise<AnyFlowEvent[]>;
  /**
   * A run's latest checkpoint and the events after it.
   *
   * @param runId The run.
   * @returns What resume needs.
   */
  readRun(runId: string): Promise<StoredRun>;
  /**
   * The runs in the file, by first appearance.
   *
   * @returns Their ids.
   */
  runs(): string[];
  /**
   * Writes a run checkpoint after every queued event.
   *
   * @param checkpoint The run's state at a seq.
   * @returns When it is written.
   */
  writeCheckpoint(checkpoint: RunCheckpoint): Promise<void>;
  /**
   * Rewrites the file so that every ended run is one record: its final
   * checkpoint. Runs that did not end are kept whole. The new file replaces
   * the old one atomically (written, synced, renamed).
   *
   * @returns What was dropped.
   */
  compact(): Promise<CompactionReport>;
  /**
   * Waits for queued writes and closes the file.
   *
   * @returns When it is closed.
   */
  close(): Promise<void>;
}

interface RunIndex {
  /** Event lines: start offsets, end offsets, seqs, line numbers. */
  starts: number[];
  ends: number[];
  seqs: number[];
  lines: number[];
  /** The latest checkpoint line. */
  checkpoint?: { start: number; end: number; seq: number; line: number };
}

/** A record to write and what to index once it is written. */
interface Line {
  bytes: Uint8Array;
  kind: "event" | "checkpoint";
  key: string;
  seq: number;
}

type Job =
  | { kind: "write"; lines: Line[]; bytes?: Uint8Array; resolve: () => void; reject: (error: unknown) => void }
  | { kind: "task"; run: () => Promise<void> };

/**
 * Opens (or creates) a file log store. Opening scans the whole file: every
 * line's checksum is verified. A damaged tail — a half-written last record,
 * garbage bytes after the last valid one — is cut off and reported
 * (`recovery`, `onRecover`); damage followed by valid records is never
 * skipped: opening fails with a `LogCorruptedError` naming the line.
 *
 * One store writes a file at a time: the store holds an exclusive OS lock on
 * the side file `<path>.lock` until `close()`, and a second opener (another
 * store in this process, or another process) is refused with a
 * `LogLockedError` naming the holder's pid, host and start. The kernel drops
 * the lock when the holder's process ends, however it ends (SIGKILL
 * included), so a lock is never left stale. The side file is never deleted.
 *
 * A file that is not a log (it has content, but no valid record and not
 * just one torn record) is refused with a `NotALogError` and left as it was.
 *
 * @param path The file.
 * @param options Flush policy, checkpoints, recovery callback.
 * @returns The store.
 * @throws {LogLockedError} Another store holds the file (as a rejection).
 * @throws {NotALogError} The file is not a log (as a rejection); it is not changed.
 * @throws {LogCorruptedError} A damaged record is followed by valid ones (as a rejection).
 * @throws {RangeError} An option is out of range.
 *
 * @example Resuming a run after a crash
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { openFileLogStore } from "@nerv/flow/adapters";
 * import assert from "node:assert/strict";
 *
 * const path = `${await Deno.makeTempDir()}/flow.log`;
 * const wf = defineWorkflow({ name: "nightly", tasks: [
 *   { id: "fetch", run: () => [1, 2, 3] },
 *   { id: "sum", dependsOn: ["fetch"], run: ({ deps }) => (deps.fetch as number[]).reduce((a, b) => a + b) },
 * ] });
 *
 * const store = await openFileLogStore(path, { flush: "batch" });
 * const engine = createEngine({ logStore: store });
 * const { runId } = await engine.run(wf);
 * await engine.close();
 * await store.close();
 *
 * // Later, in another process: resuming an ended run returns its stored result.
 * const again = await openFileLogStore(path);
 * const engine2 = createEngine({ logStore: again });
 * const result = await engine2.resume(wf, runId);
 * assert.equal(result.tasks.sum.result, 6);
 * await engine2.close();
 * await again.close();
 * ```
 */
export async function openFileLogStore(path: string, options: FileLogStoreOptions = {}): Promise<FileLogStore> {
  const flush = options.flush ?? "batch";
  if (flush !== "event" && flush !== "batch" && flush !== "none") {
    throw new RangeError(
      `Cannot open file log store: flush ${JSON.stringify(flush)} must be "event", "batch" or "none"`,
    );
  }
  const runCheckpointEvery = options.runCheckpointEvery ?? 10_000;
  if (!(runCheckpointEvery === Infinity || (Number.isInteger(runCheckpointEvery) && runCheckpointEvery >= 1))) {
    throw new RangeError(
      `Cannot open file log store: runCheckpointEvery ${runCheckpointEvery} must be an integer >= 1 or Infinity`,
    );
  }
  const onRecover = options.onRecover ??
    ((r: RecoveryReport) =>
      console.warn(
        `nerv-flow: log "${r.path}" had a damaged tail from line ${r.line} (${r.reason}); cut ${r.droppedBytes} bytes`,
      ));

  const lock: FileLock = await lockFile(path);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, append: true, create: true });
  } catch (error) {
    await lock.release();
    throw error;
  }
  let runs = new Map<string, RunIndex>();
  let lastSeq = 0;
  let size = 0;
  let lineCount = 0;
  let recovery: RecoveryReport | undefined;

  const runOf = (key: string): RunIndex => {
    let run = runs.get(key);
    if (run === undefined) runs.set(key, run = { starts: [], ends: [], seqs: [], lines: [] });
    return run;
  };
  const index = (kind: string, key: string, seq: number, start: number, end: number, line: number) => {
    const run = runOf(key);
    if (kind === "event") {
      run.starts.push(start);
      run.ends.push(end);
      run.seqs.push(seq);
      run.lines.push(line);
    } else if (kind === "checkpoint" && (run.checkpoint === undefined || seq >= run.checkpoint.seq)) {
      run.checkpoint = { start, end, seq, line };
    }
    if (seq > lastSeq) lastSeq = seq;
  };
  const load = async (): Promise<Damage | undefined> => {
    const bytes = await Deno.readFile(path);
    runs = new Map();
    lastSeq = 0;
    lineCount = 0;
    const scan = scanFile(bytes, (l: ScannedLine) => {
      index(l.kind, l.key, l.seq, l.start, l.end, l.line);
      lineCount = l.line;
    });
    const foreign = notARecordFile(bytes, scan);
    if (foreign !== undefined) throw new NotALogError(path, foreign);
    recovery = await cutDamagedTail(file, path, bytes.length, scan);
    size = scan.validEnd;
    return scan.tail;
  };
  let damage: Damage | undefined;
  try {
    damage = await load();
  } catch (error) {
    try {
      file.close();
    } catch {
      // closed by load()
    }
    await lock.release();
    throw error;
  }
  if (damage !== undefined) onRecover(recovery!);

  // ---- one queue, in order: writes (merged by the flush policy), reads, compaction
  const queue: Job[] = [];
  let pumping = false;
  let idle: Promise<void> = Promise.resolve();
  let markIdle = () => {};
  let failure: { error: unknown } | undefined;
  let closed = false;

  const writeAll = async (bytes: Uint8Array) => {
    let done = 0;
    while (done < bytes.length) done += await file.write(bytes.subarray(done));
  };
  const written = (lines: Line[]) => {
    for (const l of lines) {
      const start = size;
      size += l.bytes.length;
      index(l.kind, l.key, l.seq, start, size, ++lineCount);
    }
  };
  const pump = async () => {
    while (queue.length > 0) {
      if (queue[0].kind === "task") {
        await (queue.shift() as Extract<Job, { kind: "task" }>).run();
        continue;
      }
      const jobs: Extract<Job, { kind: "write" }>[] = [];
      if (flush === "event") jobs.push(queue.shift() as Extract<Job, { kind: "write" }>);
      else {while (queue.length > 0 && queue[0].kind === "write") {
          jobs.push(queue.shift() as Extract<Job, { kind: "write" }>);
        }}
      if (failure !== undefined) {
        for (const j of jobs) j.reject(failure.error);
        continue;
      }
      try {
        if (flush === "event") {
          for (const line of jobs[0].lines) {
            await writeAll(line.bytes);
            await file.syncData();
            written([line]);
          }
        } else {
          const lines = jobs.length === 1 ? jobs[0].lines : jobs.flatMap((j) => j.lines);
          await writeAll(
            jobs.length === 1 && jobs[0].bytes !== undefined
              ? jobs[0].bytes
              : concat(jobs.map((j) => j.bytes ?? concat(j.lines.map((l) => l.bytes)))),
          );
          if (flush === "batch") await file.syncData();
          written(lines);
        }
        for (const j of jobs) j.resolve();
      } catch (error) {
        failure = { error };
        for (const j of jobs) j.reject(error);
      }
    }
    pumping = false;
    markIdle();
  };
  const push = (job: Job) => {
    queue.push(job);
    if (!pumping) {
      pumping = true;
      idle = new Promise<void>((resolve) => markIdle = resolve);
      pump();
    }
  };
  const write = (lines: Line[], bytes?: Uint8Array): Promise<void> => {
    if (closed) return Promise.reject(new TypeError(`Cannot write to log "${path}": the store is closed`));
    if (failure !== undefined) return Promise.reject(failure.error);
    return new Promise<void>((resolve, reject) => push({ kind: "write", lines, bytes, resolve, reject }));
  };
  /** Runs `fn` in the queue: after every write queued before it, before any queued after. */
  const inQueue = <T>(fn: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new TypeError(`Cannot use log "${path}": the store is closed`));
    return new Promise<T>((resolve, reject) => push({ kind: "task", run: () => fn().then(resolve, reject) }));
  };

  const readRange = async (start: number, end: number): Promise<Uint8Array> => {
    const reader = await Deno.open(path, { read: true });
    try {
      await reader.seek(start, Deno.SeekMode.Start);
      const out = new Uint8Array(end - start);
      let done = 0;
      while (done < out.length) {
        const n = await reader.read(out.subarray(done));
        if (n === null) throw new Error(`Cannot read log "${path}": it ended at byte ${start + done}`);
        done += n;
      }
      return out;
    } finally {
      reader.close();
    }
  };
  /** Parses a line read back, verifying it again: damage found after open is an error, never skipped. */
  const parseLine = <T>(bytes: Uint8Array, start: number, end: number, line: number, offset: number): T => {
    const header = scanRecord(bytes, start, end - 1);
    if (typeof header === "string") throw new LogCorruptedError(path, line, offset, header);
    return parseBody<T>(bytes, header);
  };
  const readEvents = async (run: RunIndex, from: number): Promise<AnyFlowEvent[]> => {
    const n = run.starts.length - from;
    if (n <= 0) return [];
    const base = run.starts[from];
    const bytes = await readRange(base, run.ends[run.ends.length - 1]);
    const out: AnyFlowEvent[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const k = from + i;
      out[i] = parseLine(bytes, run.starts[k] - base, run.ends[k] - base, run.lines[k], run.starts[k]);
    }
    return out;
  };
  const readCheckpoint = async (run: RunIndex): Promise<RunCheckpoint | undefined> => {
    const cp = run.checkpoint;
    if (cp === undefined) return undefined;
    const bytes = await readRange(cp.start, cp.end);
    return parseLine<RunCheckpoint>(bytes, 0, bytes.length, cp.line, cp.start);
  };

  const store: FileLogStore = {
    path,
    flush,
    durable: true,
    get lastSeq() {
      return lastSeq;
    },
    runCheckpointEvery,
    get recovery() {
      return recovery;
    },
    holder: lock.holder,
    get size() {
      return size;
    },
    append(events) {
      const records: RecordInput[] = new Array(events.length);
      for (let i = 0; i < events.length; i++) {
        const e = events[i];
        records[i] = { kind: "event", seq: e.seq, key: e.runId, value: e };
        if (e.seq > lastSeq) lastSeq = e.seq;
      }
      const { bytes, ends } = encodeRecords(records);
      const lines: Line[] = new Array(events.length);
      for (let i = 0, start = 0; i < events.length; start = ends[i++]) {
        lines[i] = { bytes: bytes.subarray(start, ends[i]), kind: "event", key: events[i].runId, seq: events[i].seq };
      }
      return write(lines, bytes);
    },
    read(runId) {
      return inQueue(() => {
        const run = runs.get(runId);
        return run === undefined ? Promise.resolve([]) : readEvents(run, 0);
      });
    },
    readRun(runId) {
      return inQueue(async () => {
        const run = runs.get(runId);
        if (run === undefined) return { events: [] };
        const checkpoint = await readCheckpoint(run);
        let k = 0;
        if (checkpoint !== undefined) { while (k < run.seqs.length && run.seqs[k] <= checkpoint.seq) k++; }
        const events = await readEvents(run, k);
        return checkpoint === undefined ? { events } : { checkpoint, events };
      });
    },
    runs() {
      return [...runs.keys()];
    },
    writeCheckpoint(checkpoint) {
      const bytes = encodeRecord("checkpoint", checkpoint.seq, checkpoint.runId, checkpoint);
      return write([{ bytes, kind: "checkpoint", key: checkpoint.runId, seq: checkpoint.seq }]);
    },
    compact() {
      return inQueue(async () => {
        if (failure !== undefined) throw failure.error;
        const bytesBefore = size;
        // Which runs ended, and their final state.
        const finals = new Map<string, RunCheckpoint>();
        for (const [runId, run] of runs) {
          const state = foldRun({ checkpoint: await readCheckpoint(run), events: await readEvents(run, 0) });
          if (state === undefined) continue;
          if (state.status === "completed" || state.status === "failed" || state.status === "cancelled") {
            const seq = Math.max(run.seqs[run.seqs.length - 1] ?? 0, run.checkpoint?.seq ?? 0);
            finals.set(runId, { runId, seq, state });
          }
        }
        // Keep the file in seq order: an ended run's checkpoint takes the place of its last record.
        const all = await Deno.readFile(path);
        const lastStart = new Map<string, number>();
        for (const runId of finals.keys()) {
          const run = runs.get(runId)!;
          lastStart.set(runId, Math.max(run.starts[run.starts.length - 1] ?? -1, run.checkpoint?.start ?? -1));
        }
        const parts: Uint8Array[] = [];
        let dropped = 0;
        const scan = scanFile(all, (line) => {
          const final = finals.get(line.key);
          if (final === undefined) {
            parts.push(all.subarray(line.start, line.end));
            return;
          }
          dropped++;
          if (lastStart.get(line.key) === line.start) {
            parts.push(encodeRecord("checkpoint", final.seq, final.runId, final));
            dropped--;
          }
        });
        if (scan.middle !== undefined || scan.tail !== undefined) {
          const d = (scan.middle ?? scan.tail)!;
          throw new LogCorruptedError(path, d.line, d.offset, d.reason);
        }
        const tmp = `${path}.compacting`;
        const out = await Deno.open(tmp, { write: true, create: true, truncate: true });
        try {
          const bytes = concat(parts);
          let done = 0;
          while (done < bytes.length) done += await out.write(bytes.subarray(done));
          await out.syncData();
        } finally {
          out.close();
        }
        file.close();
        await Deno.rename(tmp, path);
        await syncDirectory(path);
        file = await Deno.open(path, { read: true, append: true });
        await load();
        return { runsCompacted: finals.size, recordsDropped: dropped, bytesBefore, bytesAfter: size };
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await idle;
      try {
        file.close();
      } finally {
        await lock.release();
      }
    },
  };
  return store;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
  }
  return out;
}

/** Syncs a file's directory, so a rename survives a crash (where the platform allows). */
async function syncDirectory(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash <= 0 ? (slash === 0 ? "/" : ".") : path.slice(0, slash);
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch {
    // Not every platform opens directories; the rename itself is atomic.
  }
}
