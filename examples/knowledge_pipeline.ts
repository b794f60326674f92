/**
 * A knowledge pipeline: reads the Markdown documents in `examples/docs/`,
 * tokenizes and hashes each one, computes document frequencies, scores every
 * document with TF-IDF, builds an inverted index with the most related
 * document of each, and writes `examples/out/report.md`.
 *
 * ```
 * fetch:<doc> ─► parse:<doc> ─┬─► df ─┐
 *   (×12, io)     (×12, cpu)  └───────┴─► score:<doc> ─► index ─► report
 *                                          (×12, cpu)
 * ```
 *
 * Parsing, document frequencies and scoring are task references from
 * `tasks/knowledge.ts` and run in the engine's cpu worker pool; fetching is
 * io (inline). The fetch of one document fails on its first attempt and
 * succeeds on the retry. Progress is printed from the engine's bus; the final state is read
 * from the snapshot log's projections.
 *
 * Run it with `deno task demo`.
 *
 * @module
 */
import { createEngine, type EventOf, flow, isTaskCompleted, plan } from "../mod.ts";
import type { DeliveredEvent } from "../extend.ts";
import { cpu, type Scored } from "./tasks/knowledge.ts";

const DOCS_DIR = new URL("./docs/", import.meta.url);
const OUT_DIR = new URL("./out/", import.meta.url);
/** The document whose fetch fails on attempt 1. */
const FLAKY = "web-workers";

interface PipelineInput {
  /** Top terms kept per document. */
  topK: number;
}

interface Index {
  docs: Scored[];
  /** Term → documents containing it, best first. */
  postings: Record<string, [slug: string, weight: number][]>;
  /** Terms by their summed weight over the corpus. */
  topTerms: [term: string, weight: number][];
  /** Each document's most similar other document (cosine of TF-IDF vectors). */
  related: Record<string, [slug: string, similarity: number]>;
  /** Groups of documents with identical content (same SHA-256). */
  duplicates: string[][];
}

interface Report {
  path: string;
  bytes: number;
}

// ---- the work (the CPU-heavy part is in tasks/knowledge.ts) -------------

function cosine(a: Scored, b: Scored): number {
  let dot = 0;
  for (const term in a.weights) if (term in b.weights) dot += a.weights[term] * b.weights[term];
  return dot / (a.norm * b.norm);
}

function buildIndex(docs: Scored[]): Index {
  const postings: Record<string, [string, number][]> = {};
  const totals = new Map<string, number>();
  for (const doc of docs) {
    for (const [term, w] of Object.entries(doc.weights)) {
      (postings[term] ??= []).push([doc.slug, w]);
      totals.set(term, (totals.get(term) ?? 0) + w);
    }
  }
  for (const list of Object.values(postings)) list.sort((a, b) => b[1] - a[1]);
  const topTerms = [...totals].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
  const related: Record<string, [string, number]> = {};
  for (const a of docs) {
    let best: [string, number] = ["", -1];
    for (const b of docs) {
      if (a === b) continue;
      const sim = cosine(a, b);
      if (sim > best[1]) best = [b.slug, sim];
    }
    related[a.slug] = best;
  }
  const byHash = Map.groupBy(docs, (d) => d.hash);
  const duplicates = [...byHash.values()].filter((g) => g.length > 1).map((g) => g.map((d) => d.slug));
  return { docs, postings, topTerms, related, duplicates };
}

async function writeReport(index: Index): Promise<Report> {
  const lines = [
    "# Knowledge report",
    "",
    `${index.docs.length} documents, ${Object.keys(index.postings).length} distinct terms.`,
    "",
    "## Documents",
    "",
    "| document | tokens | top terms (TF-IDF) | most related | sha-256 |",
    "| --- | ---: | --- | --- | --- |",
    ...index.docs.map((d) => {
      const [rel, sim] = index.related[d.slug];
      const top = d.top.map(([t, w]) => `${t} ${w.toFixed(3)}`).join(", ");
      return `| ${d.title} | ${d.tokens} | ${top} | ${rel} (${sim.toFixed(2)}) | \`${d.hash.slice(0, 12)}\` |`;
    }),
    "",
    "## Top terms of the corpus",
    "",
    "| term | summed weight | documents, best first |",
    "| --- | ---: | --- |",
    ...index.topTerms.map(([term, w]) => {
      const docs = index.postings[term].slice(0, 4).map(([slug]) => slug).join(", ");
      return `| ${term} | ${w.toFixed(3)} | ${docs} |`;
    }),
    "",
    `Duplicate content: ${
      index.duplicates.length === 0 ? "none" : index.duplicates.map((g) => g.join(" = ")).join("; ")
    }.`,
    "",
  ];
  const text = lines.join("\n");
  await Deno.mkdir(OUT_DIR, { recursive: true });
  const file = new URL("report.md", OUT_DIR);
  await Deno.writeTextFile(file, text);
  return { path: relative(file), bytes: new TextEncoder().encode(text).length };
}

function relative(url: URL): string {
  const cwd = `${Deno.cwd()}/`;
  return url.pathname.startsWith(cwd) ? url.pathname.slice(cwd.length) : url.pathname;
}

// ---- the workflow --------------------------------------------------------

const slugs = (await Array.fromAsync(Deno.readDir(DOCS_DIR)))
  .filter((e) => e.isFile && e.name.endsWith(".md"))
  .map((e) => e.name.slice(0, -3))
  .sort();

// Typed: each task's deps hold the results of the tasks it names, with their types (a typo is a type error), and
// the cpu task references are checked against what they read.
const workflow = flow<PipelineInput>("knowledge-pipeline", {
  description: "Fetch, parse, score and index a small corpus",
})
  .each("fetch", slugs, {
    description: "Reads <slug>.md; the flaky one fails on its first attempt",
    profile: "io",
    timeoutMs: 5_000,
    retry: { maxAttempts: 3, initialDelayMs: 25 },
    run: ({ attempt, signal }, slug) => {
      if (slug === FLAKY && attempt === 1) throw new Error("connection reset by peer (simulated)");
      return Deno.readTextFile(new URL(`${slug}.md`, DOCS_DIR), { signal });
    },
  })
  .each("parse", slugs, {
    description: "Tokenizes, counts terms, hashes the content",
    dependsOn: ["fetch:{key}"],
    profile: "cpu",
    run: cpu.parse,
  })
  .task("df", {
    description: "Document frequency of every term (fan-in)",
    dependsOn: ["parse:*"],
    profile: "cpu",
    run: cpu.df,
  })
  .each("score", slugs, {
    description: "TF-IDF weights and top terms",
    dependsOn: ["parse:{key}", "df"],
    profile: "cpu",
    run: cpu.score,
  })
  .task("index", {
    description: "Inverted index, corpus top terms, related documents",
    dependsOn: ["score:*"],
    profile: "memory",
    run: ({ deps }) => buildIndex(slugs.map((s) => deps[`score:${s}`])),
  })
  .task("report", {
    description: "Writes examples/out/report.md",
    dependsOn: ["index"],
    priority: "high",
    run: ({ deps }) => writeReport(deps.index),
  })
  .build();

// ---- progress from the bus ----------------------------------------------

/** One short line describing a task's result (typed by the task that produced it). */
function summary(e: EventOf<"task.completed">): string {
  if (isTaskCompleted(workflow, e, "fetch:*")) return `${e.data.result.length} chars`;
  if (isTaskCompleted(workflow, e, "parse:*")) {
    const p = e.data.result;
    return `${p.tokens} tokens, ${Object.keys(p.tf).length} terms, sha256 ${p.hash.slice(0, 8)}`;
  }
  if (isTaskCompleted(workflow, e, "score:*")) {
    return `top: ${e.data.result.top.slice(0, 3).map(([t]) => t).join(", ")}`;
  }
  if (isTaskCompleted(workflow, e, "df")) {
    return `${Object.keys(e.data.result.df).length} terms over ${e.data.result.docs} documents`;
  }
  if (isTaskCompleted(workflow, e, "index")) {
    const x = e.data.result;
    return `${Object.keys(x.postings).length} terms, ${x.duplicates.length} duplicate groups`;
  }
  if (isTaskCompleted(workflow, e, "report")) return `wrote ${e.data.result.path} (${e.data.result.bytes} bytes)`;
  return "";
}

let t0 = 0;
function line(e: DeliveredEvent, mark: string, text: string): void {
  console.log(`${String(e.timestamp - t0).padStart(5)} ms  ${mark} ${text}`);
}

const engine = createEngine();
engine.bus.onAny((e) => {
  const id = (e.taskId ?? "").padEnd(22);
  switch (e.type) {
    case "workflow.started":
      t0 = e.timestamp;
      return line(e, "▶", `run ${e.workflowId}: ${workflow.tasks.length} tasks, ${slugs.length} documents`);
    case "task.started":
      // First attempts are implied by the completion line; retries are worth a line.
      if ((e.attempt ?? 1) > 1) line(e, "↻", `${id} attempt ${e.attempt} started`);
      return;
    case "task.retrying":
      return line(
        e,
        "!",
        `${id} attempt ${e.attempt} failed: ${e.data.error.message}; retry in ${Math.round(e.data.delayMs)} ms`,
      );
    case "task.completed":
      return line(e, "✓", `${id} ${summary(e)}`);
    case "task.failed":
      return line(e, "✗", `${id} failed: ${e.data.error.message}`);
    case "task.skipped":
      return line(e, "-", `${id} skipped: ${e.data.dependency} ${e.data.dependencyStatus}`);
    case "task.cancelled":
      return line(e, "-", `${id} cancelled: ${e.data.reason.message}`);
    case "workflow.completed":
      return line(e, "■", `run completed in ${e.data.durationMs} ms`);
    case "workflow.failed":
      return line(e, "■", `run failed in ${e.data.durationMs} ms: ${e.data.error.message}`);
    case "workflow.cancelled":
      return line(e, "■", `run cancelled: ${e.data.reason.message}`);
  }
});

const { criticalPath, levels } = plan(workflow);
console.log(`plan: ${levels.length} levels; critical path ${criticalPath.join(" → ")}`);

const result = await engine.run(workflow, { input: { topK: 5 } });

// ---- the final state, read from the log ----------------------------------

const log = engine.log;
const runId = result.runId;
const status = engine.project("workflowStatus", runId);
const counts = Object.entries(status.counts).filter(([, n]) => n > 0).map(([s, n]) => `${s} ${n}`).join(", ");
const zero = Object.entries(status.counts).filter(([, n]) => n === 0).map(([s]) => s).join(", ");
const completed = engine.project("completedTasks", runId);
console.log("\nprojections");
console.log(
  `  workflowStatus  ${status.status} in ${status.durationMs} ms, ${status.taskCount} tasks: ${counts} (${zero}: 0)`,
);
console.log(`  completedTasks  ${completed.length}: ${wrap(completed.join(" "), 100, 18)}`);
console.log(`  failedTasks     ${JSON.stringify(engine.project("failedTasks", runId))}`);
const flaky = engine.project("tasks", runId)[`fetch:${FLAKY}`];
console.log(`  tasks           fetch:${FLAKY} ${flaky.status} after ${flaky.attempts} attempts`);
const retried = log.events(runId).find((e) =>
  e.type === "task.started" && e.taskId === `fetch:${FLAKY}` && e.attempt === 2
);
if (retried !== undefined) {
  // Time travel: the state right after the retry started.
  const then = log.at(retried.seq);
  console.log(
    `  at(${retried.seq})`.padEnd(18) + `${then.project("completedTasks", runId).length} completed, ` +
      `fetch:${FLAKY} ${then.project("taskStatus", runId)[`fetch:${FLAKY}`]} (attempt 2)`,
  );
}
console.log(
  `  replay          ${log.events(runId).length} events rebuild the same state: ${
    log.replay(log.events()).equals(log.state())
  }`,
);

const index = result.tasks.index.result;
if (index !== undefined) {
  console.log("\ntop terms");
  for (const [term, w] of index.topTerms.slice(0, 6)) {
    const where = index.postings[term].slice(0, 3).map(([slug]) => slug).join(", ");
    console.log(`  ${term.padEnd(14)} ${w.toFixed(3)}  ${where}`);
  }
}
await engine.close();
if (result.status !== "completed") Deno.exitCode = 1;

function wrap(text: string, width: number, indent: number): string {
  const out: string[] = [];
  let current = "";
  for (const word of text.split(" ")) {
    if (current.length > 0 && current.length + 1 + word.length > width) {
      out.push(current);
      current = word;
    } else current = current.length === 0 ? word : `${current} ${word}`;
  }
  if (current.length > 0) out.push(current);
  return out.join(`\n${" ".repeat(indent)}`);
}
