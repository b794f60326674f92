/**
 * The log's journal: every event it holds, in order, in chunks of a fixed
 * size. Appending never copies what is held (one array grown by pushes is
 * copied whole at each growth, and a large one is a fresh large-object
 * allocation each time: a run that hit such a growth took milliseconds), and
 * dropping the events of evicted runs copies only the kept ones, into chunks
 * of the same size.
 *
 * @module
 */
import type { AnyFlowEvent } from "../types.ts";

const SHIFT = 12;
/** Events per chunk (4,096: a 16 KB array, well under V8's large-object size). */
const CHUNK = 1 << SHIFT;
const MASK = CHUNK - 1;

/** An append-only sequence of events, in chunks; every chunk but the last is full. */
export class Journal {
  #chunks: AnyFlowEvent[][] = [[]];
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
    return this.#chunks[i >>> SHIFT][i & MASK];
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
    for (let i = from, k = 0; i < to; i++, k++) out[k] = this.#chunks[i >>> SHIFT][i & MASK];
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
    for (const chunk of this.#chunks) {
      for (let i = 0; i < chunk.length; i++) if (keep(chunk[i])) out.push(chunk[i]);
    }
    return out;
  }

  /** The events, in order. */
  *[Symbol.iterator](): IterableIterator<AnyFlowEvent> {
    for (const chunk of this.#chunks) yield* chunk;
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
    for (const chunk of this.#chunks) {
      for (let i = 0; i < chunk.length; i++) {
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
    }
    chunks.push(out);
    this.#chunks = chunks;
    this.#length = (chunks.length - 1) * CHUNK + out.length; // every chunk but the last is full
  }
}
