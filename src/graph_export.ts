/**
 * Pictures of a workflow: Mermaid flowcharts and Graphviz DOT, with each
 * task coloured by its status when given a run's state (the log's
 * `taskStatus` projection). Runtime-agnostic: plain strings out.
 *
 * @module
 */
import { type Graph, graphOf } from "./graph.ts";
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
  /**
   * Draw every task (`"none"`), or one node per dependency level (`"level"`:
   * the tasks of a level, how many there are, their statuses, and one edge
   * per pair of levels labelled with the dependencies it stands for), or the
   * latter only when the full picture has more edges than stock Mermaid draws
   * (`"auto"`: more than {@linkcode MERMAID_MAX_EDGES}).
   * @default {"none"}
   */
  collapse?: "none" | "level" | "auto";
}

/**
 * The most edges stock Mermaid draws (its `maxEdges` setting, which a diagram
 * cannot raise: it is a secure key). {@linkcode toMermaid} says so in a
 * comment when a picture has more, and `collapse: "level"` draws one node
 * per dependency level instead.
 */
export const MERMAID_MAX_EDGES = 500;

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
  if (collapsed(g, options)) return mermaidLevels(workflow, g, options, lines);
  const edges = g.outStart[g.n];
  if (edges > MERMAID_MAX_EDGES) lines.push(tooManyEdges(edges));
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
    `digraph ${dotId(workflow.name)} {`,
    `  rankdir=${direction(options)};`,
    `  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];`,
  ];
  if (collapsed(g, options)) return dotLevels(workflow, g, options, lines);
  const status = options.status;
  for (let i = 0; i < g.n; i++) {
    const attrs = [`label=${dotLabel(label(workflow, i, options))}`];
    const s = status?.[g.ids[i]];
    if (s !== undefined && Object.hasOwn(STATUS_COLORS, s)) {
      const c = STATUS_COLORS[s];
      attrs.push(`fillcolor="${c.fill}"`, `color="${c.stroke}"`, `fontcolor="${c.text}"`, `tooltip="${s}"`);
    }
    lines.push(`  ${dotId(g.ids[i])} [${attrs.join(", ")}];`);
  }
  for (let i = 0; i < g.n; i++) {
    for (let k = g.outStart[i]; k < g.outStart[i + 1]; k++) {
      lines.push(`  ${dotId(g.ids[i])} -> ${dotId(g.ids[g.outList[k]])};`);
    }
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}

function tooManyEdges(edges: number): string {
  return `  %% ${edges} edges: stock Mermaid draws at most ${MERMAID_MAX_EDGES} (maxEdges, which a diagram cannot raise); ` +
    `toMermaid(workflow, { collapse: "level" }) or --collapse level draws one node per dependency level`;
}

function collapsed(g: Graph, options: GraphExportOptions): boolean {
  const c = options.collapse ?? "none";
  if (c !== "none" && c !== "level" && c !== "auto") {
    throw new RangeError(`Cannot export graph: collapse "${c}" must be "none", "level" or "auto"`);
  }
  return c === "level" || (c === "auto" && g.outStart[g.n] > MERMAID_MAX_EDGES);
}

/** Statuses from the most to the least urgent: a collapsed level takes its most urgent task's colour. */
const URGENCY: readonly TaskStatus[] = [
  "failed",
  "retrying",
  "running",
  "ready",
  "pending",
  "cancelled",
  "skipped",
  "completed",
];

/** One dependency level: its tasks, and the dependencies into it from each earlier level. */
interface Level {
  tasks: number[];
  counts: Map<TaskStatus, number>;
  /** The level's colour: its most urgent task status, if any task has one. */
  status: TaskStatus | undefined;
  /** Dependencies into this level, by the level they come from. */
  from: Map<number, number>;
}

function levelsOf(g: Graph, options: GraphExportOptions): Level[] {
  const levels: Level[] = [];
  for (let i = 0; i < g.n; i++) {
    const l = g.level[i];
    while (levels.length <= l) levels.push({ tasks: [], counts: new Map(), status: undefined, from: new Map() });
    levels[l].tasks.push(i);
    const s = options.status?.[g.ids[i]];
    if (s !== undefined && Object.hasOwn(STATUS_COLORS, s)) levels[l].counts.set(s, (levels[l].counts.get(s) ?? 0) + 1);
    for (let k = g.depStart[i]; k < g.depStart[i + 1]; k++) {
      const from = g.level[g.depList[k]];
      levels[l].from.set(from, (levels[l].from.get(from) ?? 0) + 1);
    }
  }
  for (const level of levels) level.status = URGENCY.find((s) => level.counts.has(s));
  return levels;
}

/** A collapsed level's lines of text (plain, to be escaped): its name and size, a few task labels, its statuses. */
function levelText<I>(workflow: Workflow<I>, level: Level, l: number, options: GraphExportOptions): string[] {
  const n = level.tasks.length;
  const shown = level.tasks.slice(0, 3).map((i) => visible(label(workflow, i, options)));
  const text = [`level ${l}: ${n} task${n === 1 ? "" : "s"}`, shown.join(", ") + (n > 3 ? ", …" : "")];
  if (level.counts.size > 0) {
    text.push(URGENCY.filter((s) => level.counts.has(s)).map((s) => `${level.counts.get(s)} ${s}`).join(", "));
  }
  return text;
}

function mermaidLevels<I>(workflow: Workflow<I>, g: Graph, options: GraphExportOptions, lines: string[]): string {
  const levels = levelsOf(g, options);
  lines.push(`  %% ${g.n} tasks and ${g.outStart[g.n]} dependencies, collapsed to one node per dependency level`);
  const edges = levels.reduce((n, level) => n + level.from.size, 0);
  if (edges > MERMAID_MAX_EDGES) lines.push(tooManyEdges(edges));
  levels.forEach((level, l) => {
    lines.push(`  L${l}["${levelText(workflow, level, l, options).map(mermaidText).join("<br>")}"]`);
  });
  levels.forEach((level, l) => {
    for (const [from, count] of [...level.from].sort((a, b) => a[0] - b[0])) {
      lines.push(`  L${from} -->|"${count} dependenc${count === 1 ? "y" : "ies"}"| L${l}`);
    }
  });
  const byStatus = new Map<TaskStatus, number[]>();
  levels.forEach((level, l) => {
    if (level.status === undefined) return;
    let list = byStatus.get(level.status);
    if (list === undefined) byStatus.set(level.status, list = []);
    list.push(l);
  });
  for (const [s, list] of byStatus) {
    const c = STATUS_COLORS[s];
    lines.push(`  classDef ${s} fill:${c.fill},stroke:${c.stroke},color:${c.text}`);
    lines.push(`  class ${list.map((l) => `L${l}`).join(",")} ${s}`);
  }
  return lines.join("\n") + "\n";
}

function dotLevels<I>(workflow: Workflow<I>, g: Graph, options: GraphExportOptions, lines: string[]): string {
  const levels = levelsOf(g, options);
  lines.push(`  // ${g.n} tasks and ${g.outStart[g.n]} dependencies, collapsed to one node per dependency level`);
  levels.forEach((level, l) => {
    const attrs = [`label=${dotLabel(levelText(workflow, level, l, options).join("\n"), true)}`];
    if (level.status !== undefined) {
      const c = STATUS_COLORS[level.status];
      attrs.push(`fillcolor="${c.fill}"`, `color="${c.stroke}"`, `fontcolor="${c.text}"`);
    }
    lines.push(`  "level ${l}" [${attrs.join(", ")}];`);
  });
  levels.forEach((level, l) => {
    for (const [from, count] of [...level.from].sort((a, b) => a[0] - b[0])) {
      lines.push(`  "level ${from}" -> "level ${l}" [label="${count}"];`);
    }
  });
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

/**
 * Text as it should read in a picture: control characters (line breaks,
 * tabs) shown as their Unicode control pictures (`"x\r\ny"` reads `x␍␊y`),
 * so ids that differ only by them stay distinct on screen.
 */
function visible(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => String.fromCharCode(c === "\x7f" ? 0x2421 : 0x2400 + c.charCodeAt(0)));
}

/**
 * Mermaid label text inside double quotes, shown as written: entity codes
 * (`#38;`) for what would end the label (`"`), be read as HTML (`<`, `>`,
 * `&`: `&amp;` would show as `&`), start a Markdown string (`` ` ``), an
 * icon (`fa:fa-car`), a line break (`\n` written as two characters) or an
 * entity code (`#`).
 */
function mermaidText(text: string): string {
  return visible(text).replace(/[#"<>&`:\\]/g, (c) => `#${c.charCodeAt(0)};`);
}

/**
 * A DOT double-quoted ID: every character kept distinct (`\` doubled, `"`,
 * CR and LF escaped one by one), so ids that differ only by them never merge.
 */
function dotId(text: string): string {
  const escapes: Record<string, string> = { "\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r" };
  return `"${text.replace(/[\\"\n\r]/g, (c) => escapes[c])}"`;
}

/**
 * A DOT label: the text as written (control characters shown as pictures),
 * or with `lines`, its `\n` are line breaks.
 */
function dotLabel(text: string, lines = false): string {
  const escape = (t: string) => t.replace(/[\\"]/g, (c) => `\\${c}`);
  return `"${lines ? text.split("\n").map((t) => escape(visible(t))).join("\\n") : escape(visible(text))}"`;
}
