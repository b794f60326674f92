/**
 * The log's journal: every event it holds, in order, in chunks of a fixed
 * size. Appending never copies what is held (one array grown by pushes is
 * copied whole at each growth, and a large one is a fresh large-object
 * allocation each time: a run that hit such a growth took milliseconds), and
 * dropping the events of evicted runs copies only the kept ones, into chunks
 * of the same size — or, when they are the oldest events held (runs evicted
 * oldest first, none kept among them), drops whole chunks and copies nothing.
 *
 * @module
 */
import type { AnyFlowEvent } from "../types.ts";

const SHIFT = 12;
/** Events per chunk (4,096: a 16 KB array, well under V8's large-object size). */
const CHUNK = 1 << SHIFT;
const MASK = CHUNK - 1;

/**
 * An append-only sequence of events, in chunks: the held events start at `#offset` in the first chunk, and every chunk
 * but the last is full (position i is at `#offset + i` counted across chunks).
 */
export class Journal {
  #chunks: AnyFlowEvent[][] = [[]];
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
    if (last.length === CHUNK) this.#chunks.push(last = []);
    last.push(event);
    this.#length++;
  }

  /**
   * The event at a position.
   *
   * @param i The position, in [0, length).
   * @returns The event.
   */
  at(i: number): AnyFlowEvent {
    const p = i + this.#offset;
    return this.#chunks[p >>> SHIFT][p & MASK];
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
    for (let p = from + this.#offset, k = 0; k < out.length; p++, k++) out[k] = chunks[p >>> SHIFT][p & MASK];
    return out;
  }

  /**
   * The events that pass a test, in order, as a new array.
   *
   * @param keep The test.
   * @returns The events.
   */
  filter(keep: (event: AnyFlowEvent) => boolean): AnyFlowEvent[] {
    const out: AnyFlowEvent[] = [];
    let start = this.#offset;
    for (const chunk of this.#chunks) {
      for (let i = start; i < chunk.length; i++) if (keep(chunk[i])) out.push(chunk[i]);
      start = 0;
    }
    return out;
  }

  /** The events, in order. */
  *[Symbol.iterator](): IterableIterator<AnyFlowEvent> {
    let start = this.#offset;
    for (const chunk of this.#chunks) {
      for (let i = start; i < chunk.length; i++) yield chunk[i];
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
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).seq <= seq) lo = mid + 1;
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
    const chunks: AnyFlowEvent[][] = [];
    let out: AnyFlowEvent[] = [];
    let run = "";
    let keep = false;
    let start = this.#offset;
    for (const chunk of this.#chunks) {
      for (let i = start, n = chunk.length; i < n; i++) {
        const e = chunk[i];
        if (e.runId !== run) {
          run = e.runId;
          keep = !dropped.has(run);
        }
        if (!keep) continue;
        if (out.length === CHUNK) {
          chunks.push(out);
          out = [];
        }
        out.push(e);
      }
      start = 0;
    }
    chunks.push(out);
    this.#chunks = chunks;
    this.#offset = 0;
    this.#length = (chunks.length - 1) * CHUNK + out.length; // every chunk but the last is full
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
      this.#chunks = [[]];
      this.#offset = 0;
      this.#length = 0;
      return;
    }
    const p = this.#offset + k;
    this.#chunks.splice(0, p >>> SHIFT);
    const first = this.#chunks[0];
    for (let i = 0; i < (p & MASK); i++) first[i] = undefined as unknown as AnyFlowEvent;
    this.#offset = p & MASK;
    this.#length -= k;
  }
}
