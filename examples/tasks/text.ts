// Task bodies that run in workers: defined once, loaded by the main thread and by each worker.
import { defineTasks } from "../../mod.ts";

/** FNV-1a over a string, many rounds: a CPU-bound body. */
function fnv(text: string, rounds: number): number {
  let h = 0x811c9dc5;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h;
}

export const tasks = defineTasks(import.meta.url, {
  /** Hashes the run input (or "") a number of times given by input.rounds. */
  hash: ({ input }: { input: unknown }) => {
    const options = typeof input === "object" && input !== null ? input : {};
    const text = "text" in options && typeof options.text === "string" ? options.text : String(input ?? "");
    const rounds = "rounds" in options && typeof options.rounds === "number" ? options.rounds : 1;
    return fnv(text, rounds);
  },
  /** Term frequencies of a document. */
  terms: ({ input }: { input: unknown }) => {
    const counts: Record<string, number> = {};
    for (const word of String(input).toLowerCase().match(/[a-z]+/g) ?? []) counts[word] = (counts[word] ?? 0) + 1;
    return counts;
  },
});
