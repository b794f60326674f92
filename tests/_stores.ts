// Log stores for tests: a durable store in memory, and one whose appends
// are acknowledged only when the test says so (or fail when it says so).
import { type AnyFlowEvent, createMemoryLogStore, type LogStore, type StoredRun } from "../extend.ts";

/** A durable store in memory: every append is acknowledged on the next microtask. */
export interface TestStore extends LogStore {
  readonly durable: true;
  readonly lastSeq: number;
  /** Every event stored, in order. */
  readonly all: AnyFlowEvent[];
  read(runId: string): AnyFlowEvent[];
  readRun(runId: string): StoredRun;
  runs(): string[];
}

/**
 * Creates a durable store in memory, optionally holding `events` already
 * (a crashed process's log).
 */
export function durableMemoryStore(events: readonly AnyFlowEvent[] = []): TestStore {
  const mem = createMemoryLogStore();
  const all: AnyFlowEvent[] = [];
  const put = (batch: readonly AnyFlowEvent[]) => {
    mem.append(batch);
    all.push(...batch);
  };
  put(events);
  return {
    durable: true,
    get lastSeq() {
      return mem.lastSeq;
    },
    all,
    append(batch) {
      put(batch);
      return Promise.resolve();
    },
    read: (runId) => mem.read(runId),
    readRun: (runId) => ({ events: mem.read(runId) }),
    runs: () => mem.runs(),
  };
}

/** A durable store whose appends wait for `release()` (or `fail()`). */
export interface GatedStore extends LogStore {
  readonly durable: true;
  /** Events handed over, acknowledged or not. */
  readonly received: AnyFlowEvent[];
  /** Events acknowledged. */
  readonly stored: AnyFlowEvent[];
  /** Appends waiting for acknowledgement. */
  readonly waiting: number;
  /** Acknowledges the oldest `n` waiting appends (all by default). */
  release(n?: number): void;
  /** Fails the oldest waiting append. */
  fail(error: unknown): void;
  read(runId: string): AnyFlowEvent[];
}

/** Creates a gated store. */
export function gatedStore(): GatedStore {
  const received: AnyFlowEvent[] = [];
  const stored: AnyFlowEvent[] = [];
  const queue: { batch: readonly AnyFlowEvent[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  return {
    durable: true,
    received,
    stored,
    get waiting() {
      return queue.length;
    },
    append(batch) {
      received.push(...batch);
      return new Promise<void>((resolve, reject) => queue.push({ batch, resolve, reject }));
    },
    read: (runId) => stored.filter((e) => e.runId === runId),
    release(n = queue.length) {
      for (const job of queue.splice(0, n)) {
        stored.push(...job.batch);
        job.resolve();
      }
    },
    fail(error) {
      queue.shift()?.reject(error);
    },
  };
}

/** Lets pending promise callbacks run (a macrotask turn). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
