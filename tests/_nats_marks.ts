/**
 * Reading the marker files that `tests/fixtures/nats_tasks.ts`'s `mark` task writes.
 *
 * @module
 */

/** One marker: which execution of which attempt, in which process. */
export interface Mark {
  kind: "start" | "done";
  runId: string;
  taskId: string;
  attempt: number;
  pid: number;
}

/** The markers in `dir`. */
export function readMarks(dir: string): Mark[] {
  const out: Mark[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const [kind, runId, taskId, attempt, pid] = e.name.split("__");
    if (kind !== "start" && kind !== "done") continue;
    out.push({ kind, runId, taskId, attempt: Number(attempt), pid: Number(pid) });
  }
  return out;
}

/** Polls until `pick(marks)` returns something; fails after `ms`. */
export async function waitForMark<T>(dir: string, pick: (marks: Mark[]) => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const found = pick(readMarks(dir));
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`No marker as expected in ${dir} after ${ms} ms: ${JSON.stringify(readMarks(dir))}`);
}
