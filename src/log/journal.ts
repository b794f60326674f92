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
 * type as a small code, and the run, workflow, task and data in arrays of
 * references. An event the engine made costs no object of its own here: the
 * objects die young, where the garbage collector copying and promoting ~46 of
 * them per 5-task run (23 events, 23 boxed timestamps) was most of what a kept
 * run cost it (bench/RESULTS.md §14). Reads make the events again, equal to
 * the ones appended (same fields, same order, the same data objects), frozen,
 * though not the same objects: reading every event of a big log costs ~0.15 µs
 * an event more than handing out the objects kept did. An event of any other
 * shape (missing or extra enumerable fields, another order, another prototype,
 * a seq or timestamp that is not a number, a NaN attempt) is kept as it is;
 * of an event of the engine's shape, the journal keeps the eight fields'
 * values (a symbol-keyed or non-enumerable property is not kept, a getter is
 * read once).
 *
 * @module
 */
import { flowEvent } from "../event.ts";
import { deepFreeze } from "../freeze.ts";
import type { AnyFlowEvent, FlowEventType } from "../types.ts";

const SHIFT = 12;
/** Events per chunk (4,096: reference arrays of 16 KB, well under V8's large-object size). */
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
/** No run id yet (a value no event's run id can be). */
const UNSEEN = Symbol("unseen");

/** The type code of an event the journal can keep in columns, or `RAW`. */
function codeOf(e: AnyFlowEvent): number {
  let k = 0;
  for (const key in e) if (key !== FIELDS[k++]) return RAW;
  if (k !== FIELDS.length || Object.getPrototypeOf(e) !== Object.prototype) return RAW;
  const attempt = e.attempt;
  if (
    typeof e.seq !== "number" || typeof e.timestamp !== "number" ||
    (attempt !== undefined && (typeof attempt !== "number" || attempt !== attempt)) // NaN stands for undefined
  ) return RAW;
  const code = TYPE_CODES.get(e.type);
  if (code !== undefined) return code;
  if (typeof e.type !== "string" || TYPE_NAMES.length >= RAW) return RAW;
  TYPE_CODES.set(e.type, TYPE_NAMES.length);
  TYPE_NAMES.push(e.type);
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
  /** The run id; for an event kept as it is, the event. */
  runId: unknown[];
  workflowId: unknown[];
  taskId: unknown[];
  data: unknown[];

  constructor(capacity: number) {
    this.seq = new Float64Array(capacity);
    this.timestamp = new Float64Array(capacity);
    this.attempt = new Float64Array(capacity);
    this.type = new Uint8Array(capacity);
    this.runId = new Array(capacity);
    this.workflowId = new Array(capacity);
    this.taskId = new Array(capacity);
    this.data = new Array(capacity);
  }

  /** Whether a slot is free, growing the chunk (up to `CHUNK` slots) if need be. */
  hasRoom(): boolean {
    const capacity = this.type.length;
    if (this.n < capacity) return true;
    if (capacity === CHUNK) return false;
    const size = Math.min(CHUNK, capacity * 4);
    const grown = (a: Float64Array) => {
      const b = new Float64Array(size);
      b.set(a);
      return b;
    };
    this.seq = grown(this.seq);
    this.timestamp = grown(this.timestamp);
    this.attempt = grown(this.attempt);
    const type = new Uint8Array(size);
    type.set(this.type);
    this.type = type;
    this.runId.length =
      this.workflowId.length =
      this.taskId.length =
      this.data.length =
        size;
    return true;
  }

  push(e: AnyFlowEvent): void {
    const i = this.n;
    const code = codeOf(e); // reads every field once: a getter that throws leaves the chunk as it was
    const seq = e.seq;
    this.type[i] = code;
    this.seq[i] = typeof seq === "number" ? seq : NaN; // (the log refuses such seqs; the event keeps its own)
    this.n = i + 1;
    if (code === RAW) {
      this.runId[i] = e;
      return;
    }
    this.timestamp[i] = e.timestamp;
    this.attempt[i] = e.attempt ?? NaN;
    this.runId[i] = e.runId;
    this.workflowId[i] = e.workflowId;
    this.taskId[i] = e.taskId;
    this.data[i] = e.data;
  }

  /** Copies slot `i` of `from` here. */
  copy(from: Chunk, i: number): void {
    const j = this.n++;
    this.type[j] = from.type[i];
    this.seq[j] = from.seq[i];
    this.timestamp[j] = from.timestamp[i];
    this.attempt[j] = from.attempt[i];
    this.runId[j] = from.runId[i];
    this.workflowId[j] = from.workflowId[i];
    this.taskId[j] = from.taskId[i];
    this.data[j] = from.data[i];
  }

  runIdAt(i: number): string {
    const v = this.runId[i];
    return this.type[i] === RAW ? (v as AnyFlowEvent).runId : v as string;
  }

  event(i: number): AnyFlowEvent {
    const code = this.type[i];
    if (code === RAW) return this.runId[i] as AnyFlowEvent;
    const attempt = this.attempt[i];
    const data = this.data[i];
    deepFreeze(data); // frozen as events leave the engine (`freezeEvents` then finds them so); once: then a check
    return Object.freeze(flowEvent(
      TYPE_NAMES[code] as FlowEventType,
      this.seq[i],
      this.runId[i] as string,
      this.workflowId[i] as string,
      this.taskId[i] as string | undefined,
      attempt === attempt ? attempt : undefined,
      this.timestamp[i],
      data as never,
    ));
  }

  /** Clears the references of slots [0, to): nothing they held stays reachable. */
  clear(to: number): void {
    this.runId.fill(undefined, 0, to);
    this.workflowId.fill(undefined, 0, to);
    this.taskId.fill(undefined, 0, to);
    this.data.fill(undefined, 0, to);
  }
}

/**
 * An append-only sequence of events, in chunks: the held events start at `#offset` in the first chunk, and every chunk
 * but the last is full (position i is at `#offset + i` counted across chunks).
 */
export class Journal {
  #chunks: Chunk[] = [new Chunk(FIRST)];
  #offset = 0;
  #length = 0;

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
    if (!last.hasRoom()) this.#chunks.push(last = new Chunk(CHUNK));
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

  /** The events, in order. */
  *[Symbol.iterator](): IterableIterator<AnyFlowEvent> {
    let start = this.#offset;
    for (const chunk of this.#chunks) {
      for (let i = start; i < chunk.n; i++) yield chunk.event(i);
      start = 0;
    }
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
    let out = new Chunk(CHUNK);
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
          out = new Chunk(CHUNK);
        }
        out.copy(chunk, i);
      }
      start = 0;
    }
    chunks.push(out);
    this.#chunks = chunks;
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
      this.#chunks = [new Chunk(FIRST)];
      this.#offset = 0;
      this.#length = 0;
      return;
    }
    const p = this.#offset + k;
    this.#chunks.splice(0, p >>> SHIFT);
    this.#chunks[0].clear(p & MASK);
    this.#offset = p & MASK;
    this.#length -= k;
  }
}
