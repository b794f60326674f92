/**
 * The log's journal: every event it holds, in order, in chunks of a fixed
 * size. Appending never copies what is held (one array grown by pushes is
 * copied whole at each growth, and a large one is a fresh large-object
 * allocation each time: a run that hit such a growth took milliseconds), and
 * dropping the events of evicted runs copies only the kept ones, into chunks
 * of the same size — or, when they are the oldest events held (runs evicted
 * oldest first, none kept among them), drops whole chunks and copies nothing.
 *
 * A chunk keeps events in columns, not as the objects appended: seqs,
 * timestamps and attempts in typed arrays (outside the JavaScript heap), the
 * type as a small code, the run, workflow and task ids as 16-bit positions in
 * the chunk's table of the ids it holds (each id once), and the data in an
 * array of references — but a completion's plain `{ result, durationMs }` as
 * its result and a number, a finished run's `{ durationMs }` as a number. An
 * event the engine made costs no object of its own here, nor does a
 * completion's data, and their ids no reference in the heap: the objects die
 * young, where the garbage collector copied and promoted them with every kept
 * run (23 events and 23 boxed timestamps of a 5-task run were most of what it
 * cost; then the ids, ~550 bytes; then completions, 56 bytes a task:
 * bench/RESULTS.md §14). Reads make the events again, equal to the ones
 * appended (same fields, same order, the same data objects but completions'
 * data, made again around the same result), frozen, though not the same
 * objects: reading every event of a big log costs ~0.15 µs an event more than
 * handing out the objects kept did. An event of any other
 * shape (missing or extra enumerable fields, another order, another prototype,
 * a seq or timestamp that is not a number, a NaN attempt, ids that are not
 * strings) is kept as it is;
 * of an event of the engine's shape, the journal keeps the eight fields'
 * values (a symbol-keyed or non-enumerable property is not kept, a getter is
 * read once), and so of a completion's data.
 *
 * @module
 */
import { completedData, flowEvent, runCompletedData } from "../event.ts";
import { deepFreeze } from "../freeze.ts";
import type { AnyFlowEvent, FlowEventType } from "../types.ts";

const SHIFT = 12;
/** Events per chunk (4,096: a data array of 32 KB, well under V8's large-object size). */
const CHUNK = 1 << SHIFT;
const MASK = CHUNK - 1;
/** The first chunk's starting size (a log that holds a few events does not pay for 4,096). */
const FIRST = 64;

/** An event's own fields, in the order the engine makes them (`src/event.ts`). */
const FIELDS = ["type", "seq", "runId", "workflowId", "taskId", "attempt", "timestamp", "data"];
/** Type codes, shared by every journal: a code per event type seen (at most `RAW` of them). */
const TYPE_CODES = new Map<string, number>();
const TYPE_NAMES: string[] = [];
/** The code of an event kept as it is. */
const RAW = 255;
/** How a slot's data is kept: as it is, or a completion's `{ result, durationMs }` / a run's `{ durationMs }` made again. */
const AS_IS = 0, COMPLETED = 1, ENDED = 2;

/**
 * How the journal can keep an event's data: `COMPLETED` for a plain `{ result, durationMs }` (those two own enumerable
 * fields, in that order), `ENDED` for a plain `{ durationMs }`, else `AS_IS` (the caller checks the duration is a number).
 */
function shapeOf(data: unknown): number {
  if (typeof data !== "object" || data === null || Object.getPrototypeOf(data) !== Object.prototype) return AS_IS;
  let k = 0;
  let first: string | undefined;
  for (const key in data) {
    if (k === 0) first = key;
    else if (k > 1 || first !== "result" || key !== "durationMs") return AS_IS;
    k++;
  }
  return k === 2 ? COMPLETED : k === 1 && first === "durationMs" ? ENDED : AS_IS;
}

/** No run id yet (a value no event's run id can be). */
const UNSEEN = Symbol("unseen");

/** Whether an event has the engine's shape: its own enumerable fields `FIELDS`, in that order, and a plain prototype. */
function hasFields(e: AnyFlowEvent): boolean {
  let k = 0;
  for (const key in e) if (key !== FIELDS[k++]) return false;
  return k === FIELDS.length && Object.getPrototypeOf(e) === Object.prototype;
}

/** The code of an event type (a new one gets the next code), or `RAW` when there is no code left. */
function typeCode(type: string): number {
  const code = TYPE_CODES.get(type);
  if (code !== undefined) return code;
  if (TYPE_NAMES.length >= RAW) return RAW;
  TYPE_CODES.set(type, TYPE_NAMES.length);
  TYPE_NAMES.push(type);
  return TYPE_NAMES.length - 1;
}

/** Up to `CHUNK` events, in columns (a journal's first chunk starts small and grows to `CHUNK`). */
class Chunk {
  /** How many slots are filled (the dropped slots at the front of the first chunk included). */
  n = 0;
  seq: Float64Array;
  timestamp: Float64Array;
  attempt: Float64Array;
  type: Uint8Array;
  /** The run, workflow and task ids, as positions in `ids` (at most 3 × `CHUNK` distinct values fit 16 bits). */
  run: Uint16Array;
  workflow: Uint16Array;
  task: Uint16Array;
  /** The distinct ids of the chunk's events, each once, and their positions. */
  ids: unknown[] = [];
  #idIndex = new Map<unknown, number>();
  /** The last run and workflow id placed, and their positions (a run's events mostly come together). */
  #lastRun: unknown = UNSEEN;
  #lastRunAt = 0;
  #lastWorkflow: unknown = UNSEEN;
  #lastWorkflowAt = 0;
  /** How the data is kept (`AS_IS`, `COMPLETED`, `ENDED`) and a completion's duration. */
  shape: Uint8Array;
  duration: Float64Array;
  /** The data (a completion's: its result); for an event kept as it is, the event. */
  data: unknown[];

  constructor(capacity: number) {
    this.seq = new Float64Array(capacity);
    this.timestamp = new Float64Array(capacity);
    this.attempt = new Float64Array(capacity);
    this.type = new Uint8Array(capacity);
    this.run = new Uint16Array(capacity);
    this.workflow = new Uint16Array(capacity);
    this.task = new Uint16Array(capacity);
    this.shape = new Uint8Array(capacity);
    this.duration = new Float64Array(capacity);
    this.data = new Array(capacity);
  }

  /** Whether a slot is free, growing the chunk (up to `CHUNK` slots) if need be. */
  hasRoom(): boolean {
    const capacity = this.type.length;
    if (this.n < capacity) return true;
    if (capacity === CHUNK) return false;
    const size = Math.min(CHUNK, capacity * 4);
    const grown = <A extends Float64Array | Uint16Array | Uint8Array>(a: A): A => {
      const b = new (a.constructor as new (size: number) => A)(size);
      b.set(a);
      return b;
    };
    this.seq = grown(this.seq);
    this.timestamp = grown(this.timestamp);
    this.attempt = grown(this.attempt);
    this.type = grown(this.type);
    this.run = grown(this.run);
    this.workflow = grown(this.workflow);
    this.task = grown(this.task);
    this.shape = grown(this.shape);
    this.duration = grown(this.duration);
    this.data.length = size;
    return true;
  }

  /** The position of an id in `ids`, adding it if new. */
  #at(id: unknown): number {
    let k = this.#idIndex.get(id);
    if (k === undefined) {
      k = this.ids.length;
      this.ids.push(id);
      this.#idIndex.set(id, k);
    }
    return k;
  }

  /** Puts a slot's run, workflow and task ids. */
  #place(i: number, runId: unknown, workflowId: unknown, taskId: unknown): void {
    if (runId !== this.#lastRun) {
      this.#lastRunAt = this.#at(runId);
      this.#lastRun = runId;
    }
    if (workflowId !== this.#lastWorkflow) {
      this.#lastWorkflowAt = this.#at(workflowId);
      this.#lastWorkflow = workflowId;
    }
    this.run[i] = this.#lastRunAt;
    this.workflow[i] = this.#lastWorkflowAt;
    this.task[i] = this.#at(taskId);
  }

  push(e: AnyFlowEvent): void {
    const i = this.n;
    // Every field read once, and every read done before a slot is written: a getter that throws leaves the chunk (and
    // its id table) as it was, and the values checked are the values kept.
    const columns = hasFields(e);
    const type = e.type, seq = e.seq, runId = e.runId, workflowId = e.workflowId, taskId = e.taskId;
    const attempt = e.attempt, timestamp = e.timestamp, data = e.data;
    let code = RAW;
    if (
      columns && typeof type === "string" && typeof seq === "number" && typeof timestamp === "number" &&
      (attempt === undefined || (typeof attempt === "number" && attempt === attempt)) && // NaN stands for undefined
      typeof runId === "string" && typeof workflowId === "string" &&
      (taskId === undefined || typeof taskId === "string") &&
      this.ids.length <= 0xffff - 3 // (at most 3 × `CHUNK` ids are ever placed: a safety net)
    ) code = typeCode(type);
    if (code === RAW) {
      this.type[i] = code;
      this.seq[i] = typeof seq === "number" ? seq : NaN; // (the log refuses such seqs; the event keeps its own)
      this.shape[i] = AS_IS;
      this.data[i] = e;
      this.n = i + 1;
      return;
    }
    let shape = shapeOf(data);
    const duration = shape === AS_IS ? 0 : (data as { durationMs: unknown }).durationMs;
    if (typeof duration !== "number") shape = AS_IS;
    const kept = shape === COMPLETED ? (data as { result: unknown }).result : shape === ENDED ? undefined : data;
    this.#place(i, runId, workflowId, taskId);
    this.type[i] = code;
    this.seq[i] = seq;
    this.timestamp[i] = timestamp;
    this.attempt[i] = attempt ?? NaN;
    this.shape[i] = shape;
    this.duration[i] = duration as number;
    this.data[i] = kept;
    this.n = i + 1;
  }

  /** Copies slot `i` of `from` here. */
  copy(from: Chunk, i: number): void {
    const j = this.n++;
    const code = from.type[i];
    this.type[j] = code;
    this.seq[j] = from.seq[i];
    this.shape[j] = from.shape[i];
    this.duration[j] = from.duration[i];
    this.data[j] = from.data[i];
    if (code === RAW) return;
    this.timestamp[j] = from.timestamp[i];
    this.attempt[j] = from.attempt[i];
    this.#place(j, from.ids[from.run[i]], from.ids[from.workflow[i]], from.ids[from.task[i]]);
  }

  runIdAt(i: number): string {
    return this.type[i] === RAW ? (this.data[i] as AnyFlowEvent).runId : this.ids[this.run[i]] as string;
  }

  event(i: number): AnyFlowEvent {
    const code = this.type[i];
    if (code === RAW) return this.data[i] as AnyFlowEvent;
    const attempt = this.attempt[i];
    const shape = this.shape[i];
    const data = shape === AS_IS
      ? this.data[i]
      : shape === COMPLETED
      ? completedData(this.data[i], this.duration[i])
      : runCompletedData(this.duration[i]);
    const ids = this.ids;
    deepFreeze(data); // frozen as events leave the engine (`freezeEvents` then finds them so); once: then a check
    return Object.freeze(flowEvent(
      TYPE_NAMES[code] as FlowEventType,
      this.seq[i],
      ids[this.run[i]] as string,
      ids[this.workflow[i]] as string,
      ids[this.task[i]] as string | undefined,
      attempt === attempt ? attempt : undefined,
      this.timestamp[i],
      data as never,
    ));
  }

  /**
   * Clears the data of slots [0, to): nothing the dropped events carried stays reachable (their ids stay in `ids`
   * until the chunk goes: at most `CHUNK` runs' worth of strings).
   */
  clear(to: number): void {
    this.data.fill(undefined, 0, to);
  }

  /**
   * Empties the chunk for reuse: no slot, no id, nothing its events carried reachable. Only the typed arrays are
   * reused; the references start in new arrays, young like the values they will hold (an old array holding young
   * values makes each store a remembered pointer, and the scavenger then promotes what it holds).
   */
  reset(): void {
    this.n = 0;
    this.data = new Array(this.type.length);
    this.ids = [];
    this.#idIndex = new Map();
    this.#lastRun = UNSEEN;
    this.#lastRunAt = 0;
    this.#lastWorkflow = UNSEEN;
    this.#lastWorkflowAt = 0;
  }
}

/**
 * Emptied full-size chunks a journal keeps for its next ones, at most this many. A chunk's columns are typed arrays,
 * whose buffers V8 counts as memory outside its heap: new ones for every 4,096 events, freed only by a major GC once
 * dropped, made the log the main cause of major GCs (V8 starts one when its heap and such buffers together reach a
 * limit), and their marking steps land in runs (bench/RESULTS.md §14). Reused, a long-lived engine's journal allocates
 * no typed array once its retention is full (its arrays of references are new with each reuse: see `Chunk.reset`).
 */
const SPARE = 32;

/**
 * An append-only sequence of events, in chunks: the held events start at `#offset` in the first chunk, and every chunk
 * but the last is full (position i is at `#offset + i` counted across chunks).
 */
export class Journal {
  #chunks: Chunk[] = [new Chunk(FIRST)];
  #offset = 0;
  #length = 0;
  /** Dropped full-size chunks, emptied, for the next ones (see `SPARE`). */
  #spare: Chunk[] = [];

  /** A full-size chunk: a spare one, else a new one. */
  #fresh(): Chunk {
    return this.#spare.pop() ?? new Chunk(CHUNK);
  }

  /** Keeps dropped chunks as spares (no reader holds a chunk: reads make new events, and the iterator a copy). */
  #recycle(chunks: readonly Chunk[]): void {
    for (const chunk of chunks) {
      if (this.#spare.length >= SPARE || chunk.type.length !== CHUNK) continue;
      chunk.reset();
      this.#spare.push(chunk);
    }
  }

  /** How many events it holds. */
  get length(): number {
    return this.#length;
  }

  /**
   * Appends an event.
   *
   * @param event The event (its seq above every held one's).
   */
  push(event: AnyFlowEvent): void {
    let last = this.#chunks[this.#chunks.length - 1];
    if (!last.hasRoom()) this.#chunks.push(last = this.#fresh());
    last.push(event);
    this.#length++;
  }

  /**
   * The events in [from, to), as a new array.
   *
   * @param from The first position.
   * @param to The position after the last (default: the end).
   * @returns The events.
   */
  slice(from = 0, to = this.#length): AnyFlowEvent[] {
    const out: AnyFlowEvent[] = new Array(Math.max(0, to - from));
    const chunks = this.#chunks;
    for (let p = from + this.#offset, k = 0; k < out.length; p++, k++) out[k] = chunks[p >>> SHIFT].event(p & MASK);
    return out;
  }

  /**
   * The events of the runs that pass a test, in order, as a new array: the test sees run ids, once per stretch of a
   * run's events, and only the events kept are made.
   *
   * @param keep The test.
   * @returns The events.
   */
  ofRuns(keep: (runId: string) => boolean): AnyFlowEvent[] {
    const out: AnyFlowEvent[] = [];
    let run: unknown = UNSEEN;
    let kept = false;
    let start = this.#offset;
    for (const chunk of this.#chunks) {
      for (let i = start; i < chunk.n; i++) {
        const id = chunk.runIdAt(i);
        if (id !== run) {
          run = id;
          kept = keep(id);
        }
        if (kept) out.push(chunk.event(i));
      }
      start = 0;
    }
    return out;
  }

  /** The events, in order (of the journal as it is now: a copy, which a later drop leaves as it was). */
  [Symbol.iterator](): IterableIterator<AnyFlowEvent> {
    return this.slice()[Symbol.iterator]();
  }

  /**
   * The number of events with seq <= `seq` (events are in ascending seq order).
   *
   * @param seq A seq.
   * @returns The position after the last such event.
   */
  positionOf(seq: number): number {
    let lo = 0;
    let hi = this.#length;
    const chunks = this.#chunks;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = mid + this.#offset;
      if (chunks[p >>> SHIFT].seq[p & MASK] <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Drops the events of the given runs, keeping the others in order: one set look-up per stretch of a run's events
   * (a run's events mostly sit together), the kept ones copied into new full chunks.
   *
   * @param dropped The runs whose events go.
   */
  drop(dropped: ReadonlySet<string>): void {
    const chunks: Chunk[] = [];
    let out = this.#fresh();
    let run: unknown = UNSEEN;
    let keep = false;
    let start = this.#offset;
    for (const chunk of this.#chunks) {
      for (let i = start, n = chunk.n; i < n; i++) {
        const id = chunk.runIdAt(i);
        if (id !== run) {
          run = id;
          keep = !dropped.has(id);
        }
        if (!keep) continue;
        if (out.n === CHUNK) {
          chunks.push(out);
          out = this.#fresh();
        }
        out.copy(chunk, i);
      }
      start = 0;
    }
    chunks.push(out);
    const old = this.#chunks;
    this.#chunks = chunks;
    this.#recycle(old);
    this.#offset = 0;
    this.#length = (chunks.length - 1) * CHUNK + out.n; // every chunk but the last is full
  }

  /**
   * Drops the oldest events, those with seq <= `seq`, without copying the others: whole chunks go, and the first kept
   * chunk's dropped slots are cleared (nothing they held stays reachable). O(chunks + one chunk).
   *
   * @param seq The seq of the last event to drop.
   */
  dropThrough(seq: number): void {
    const k = this.positionOf(seq);
    if (k === 0) return;
    if (k === this.#length) {
      const old = this.#chunks;
      this.#chunks = [new Chunk(FIRST)];
      this.#offset = 0;
      this.#length = 0;
      this.#recycle(old);
      return;
    }
    const p = this.#offset + k;
    this.#recycle(this.#chunks.splice(0, p >>> SHIFT));
    this.#chunks[0].clear(p & MASK);
    this.#offset = p & MASK;
    this.#length -= k;
  }
}
