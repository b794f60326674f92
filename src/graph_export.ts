/**
 * Pictures of a workflow: Mermaid flowcharts and Graphviz DOT, with each
 * task coloured by its status when given a run's state (the log's
 * `taskStatus` projection). Runtime-agnostic: plain strings out.
 *
 * @module
 */
import { graphOf } from "./graph.ts";
import type { TaskStatus, Workflow } from "./types.ts";

/** A fill and a text colour, as CSS hex strings. */
export interface StatusColor {
  /** The node's fill. */
  fill: string;
  /** The node's border. */
  stroke: string;
  /** The label's colour. */
  text: string;
}

/**
 * The colour of each task status in every picture (graph exports and the
 * dashboard): grey pending, blue ready, amber running, orange retrying,
 * green completed, red failed, light grey skipped, violet cancelled.
 */
export const STATUS_COLORS: Readonly<Record<TaskStatus, Readonly<StatusColor>>> = Object.freeze({
  pending: Object.freeze({ fill: "#e5e7eb", stroke: "#9ca3af", text: "#111827" }),
  ready: Object.freeze({ fill: "#bfdbfe", stroke: "#3b82f6", text: "#1e3a8a" }),
  running: Object.freeze({ fill: "#fde047", stroke: "#ca8a04", text: "#422006" }),
  retrying: Object.freeze({ fill: "#fdba74", stroke: "#ea580c", text: "#431407" }),
  completed: Object.freeze({ fill: "#22c55e", stroke: "#15803d", text: "#052e16" }),
  failed: Object.freeze({ fill: "#ef4444", stroke: "#b91c1c", text: "#ffffff" }),
  skipped: Object.freeze({ fill: "#f3f4f6", stroke: "#d1d5db", text: "#6b7280" }),
  cancelled: Object.freeze({ fill: "#c4b5fd", stroke: "#7c3aed", text: "#2e1065" }),
});

/** Options of {@linkcode toMermaid} and {@linkcode toDot}. */
export interface GraphExportOptions {
  /**
   * Each task's status, e.g. `engine.project("taskStatus", runId)`: tasks are
   * coloured by it (tasks missing from it are left uncoloured).
   */
  status?: Readonly<Record<string, TaskStatus>>;
  /**
   * Which way dependencies flow: left to right or top to bottom.
   * @default {"LR"}
   */
  direction?: "LR" | "TB";
  /**
   * Label each node with the task's `name` instead of its id.
   * @default {false}
   */
  names?: boolean;
}

/**
 * A Mermaid flowchart of a workflow: one node per task, an arrow from each
 * dependency to its dependent, and with `status` one class per status.
 *
 * @param workflow A workflow from `defineWorkflow`.
 * @param options Statuses, direction, labels.
 * @returns Mermaid source, starting with `flowchart`.
 * @throws {TypeError} The workflow was not made by `defineWorkflow`.
 *
 * @example A diamond, coloured by a finished run
 * ```ts
 * import { createEngine, defineWorkflow, toMermaid } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const run = () => 1;
 * const wf = defineWorkflow({ name: "diamond", tasks: [
 *   { id: "a", run }, { id: "b", dependsOn: ["a"], run },
 *   { id: "c", dependsOn: ["a"], run }, { id: "d", dependsOn: ["b", "c"], run },
 * ] });
 * const engine = createEngine();
 * const { runId } = await engine.run(wf);
 * const text = toMermaid(wf, { status: engine.project("taskStatus", runId) });
 * assert.match(text, /^flowchart LR/);
 * assert.match(text, /t0 --> t1/);
 * assert.match(text, /class t0,t1,t2,t3 completed/);
 * await engine.close();
 * ```
 */
export function toMermaid<I>(workflow: Workflow<I>, options: GraphExportOptions = {}): string {
  const g = graphOf(workflow);
  const lines = [`flowchart ${direction(options)}`];
  for (let i = 0; i < g.n; i++) {
    lines.push(`  t${i}["${mermaidText(label(workflow, i, options))}"]`);
  }
  for (let i = 0; i < g.n; i++) {
    for (let k = g.outStart[i]; k < g.outStart[i + 1]; k++) lines.push(`  t${i} --> t${g.outList[k]}`);
  }
  const status = options.status;
  if (status !== undefined) {
    const byStatus = new Map<TaskStatus, number[]>();
    for (let i = 0; i < g.n; i++) {
      const s = status[g.ids[i]];
      if (s === undefined || !Object.hasOwn(STATUS_COLORS, s)) continue;
      let list = byStatus.get(s);
      if (list === undefined) byStatus.set(s, list = []);
      list.push(i);
    }
    for (const [s, list] of byStatus) {
      const c = STATUS_COLORS[s];
      lines.push(`  classDef ${s} fill:${c.fill},stroke:${c.stroke},color:${c.text}`);
      lines.push(`  class ${list.map((i) => `t${i}`).join(",")} ${s}`);
    }
  }
  return lines.join("\n") + "\n";
}

/**
 * A Graphviz DOT digraph of a workflow: one box per task, an edge from each
 * dependency to its dependent, and with `status` each box filled with its
 * status colour. Render it with `dot -Tsvg`.
 *
 * @param workflow A workflow from `defineWorkflow`.
 * @param options Statuses, direction, labels.
 * @returns DOT source.
 * @throws {TypeError} The workflow was not made by `defineWorkflow`.
 *
 * @example Two tasks
 * ```ts
 * import { defineWorkflow, toDot } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const wf = defineWorkflow({ name: "pair", tasks: [
 *   { id: "fetch", run: () => 1 }, { id: "parse", dependsOn: ["fetch"], run: () => 2 },
 * ] });
 * const dot = toDot(wf, { status: { fetch: "completed", parse: "running" } });
 * assert.match(dot, /"fetch" -> "parse"/);
 * assert.match(dot, /"parse" \[[^\]]*fillcolor="#fde047"/);
 * ```
 */
export function toDot<I>(workflow: Workflow<I>, options: GraphExportOptions = {}): string {
  const g = graphOf(workflow);
  const lines = [
    `digraph ${dotText(workflow.name)} {`,
    `  rankdir=${direction(options)};`,
    `  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];`,
  ];
  const status = options.status;
  for (let i = 0; i < g.n; i++) {
    const attrs = [`label=${dotText(label(workflow, i, options))}`];
    const s = status?.[g.ids[i]];
    if (s !== undefined && Object.hasOwn(STATUS_COLORS, s)) {
      const c = STATUS_COLORS[s];
      attrs.push(`fillcolor="${c.fill}"`, `color="${c.stroke}"`, `fontcolor="${c.text}"`, `tooltip="${s}"`);
    }
    lines.push(`  ${dotText(g.ids[i])} [${attrs.join(", ")}];`);
  }
  for (let i = 0; i < g.n; i++) {
    for (let k = g.outStart[i]; k < g.outStart[i + 1]; k++) {
      lines.push(`  ${dotText(g.ids[i])} -> ${dotText(g.ids[g.outList[k]])};`);
    }
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}

function direction(options: GraphExportOptions): "LR" | "TB" {
  const d = options.direction ?? "LR";
  if (d !== "LR" && d !== "TB") throw new RangeError(`Cannot export graph: direction "${d}" must be "LR" or "TB"`);
  return d;
}

function label<I>(workflow: Workflow<I>, i: number, options: GraphExportOptions): string {
  const task = workflow.tasks[i];
  return options.names === true ? task.name : task.id;
}

/** Mermaid label text inside double quotes: entity codes for what would end or break it. */
function mermaidText(text: string): string {
  return text.replace(/[#"<>\n\r]/g, (c) => `#${c.charCodeAt(0)};`);
}

/** A DOT double-quoted ID. */
function dotText(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r?\n/g, "\\n")}"`;
}
