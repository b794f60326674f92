// The floor for the worker benchmarks: a hand-written worker, raw postMessage.
/// <reference lib="deno.worker" />
import { spin } from "./_tasks.ts";

self.onmessage = (e: MessageEvent) => {
  const m = e.data as { op: "spin"; id: number; rounds: number } | { op: "batch"; id: number; count: number };
  if (m.op === "spin") {
    self.postMessage({ id: m.id, value: spin(m.rounds) });
  } else {
    const out = new Array(m.count);
    for (let i = 0; i < m.count; i++) out[i] = undefined;
    self.postMessage({ id: m.id, values: out });
  }
};
