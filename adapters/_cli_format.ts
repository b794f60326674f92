/**
 * Text the CLI prints: durations, progress lines and the summary table.
 * Pure functions of a run's result, so tests read them directly.
 *
 * @module
 */
import type { AnyFlowEvent, RunResult, TaskResult, TaskStatus, TerminalTaskStatus } from "../mod.ts";
import { TERMINAL_STATUSES } from "../src/tables.ts";

/**
 * A duration for people: `12 ms`, `1.23 s`, `2 m 05 s`.
 *
 * @param ms Milliseconds.
 * @returns The text.
 */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, "0")} s`;
}

/**
 * Tasks per second.
 *
 * @param count Tasks.
 * @param ms Over this many milliseconds.
 * @returns The text, e.g. `812`.
 */
export function formatRate(count: number, ms: number): string {
  if (ms <= 0 || count === 0) return "0";
  const rate = count / (ms / 1000);
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1);
}

/**
 * The plain line printed for an event when stdout is not a terminal, or
 * undefined for events not worth a line.
 *
 * @param e The event.
 * @param startedAt The run's start (clock ms), for the elapsed column.
 * @returns The line.
 */
export function eventLine(e: AnyFlowEvent, startedAt: number): string | undefined {
  const at = `[${formatMs(Math.max(0, e.timestamp - startedAt)).padStart(8)}]`;
  switch (e.type) {
    case "workflow.started":
      return `${at} started   ${e.workflowId} (run ${e.runId})`;
    case "task.completed":
      return `${at} completed ${e.taskId} in ${formatMs(e.data.durationMs)}${attempts(e.attempt)}`;
    case "task.retrying":
      return `${at} retrying  ${e.taskId} after attempt ${e.attempt}: ${oneLine(e.data.error.message)} ` +
        `(next in ${formatMs(e.data.delayMs)})`;
    case "task.failed":
      return `${at} failed    ${e.taskId}${attempts(e.attempt)}: ${oneLine(e.data.error.message)}`;
    case "task.skipped":
      return `${at} skipped   ${e.taskId}: ${e.data.dependency} ${e.data.dependencyStatus}`;
    case "task.cancelled":
      return `${at} cancelled ${e.taskId}`;
    case "executor.inline":
      return `${at} note      ${e.data.profiles.join(", ")} tasks run inline: ${e.data.reason}`;
    default:
      return undefined;
  }
}

function attempts(attempt: number | undefined): string {
  return attempt !== undefined && attempt > 1 ? ` (attempt ${attempt})` : "";
}

function oneLine(text: string): string {
  const line = text.split("\n", 1)[0];
  return line.length > 160 ? `${line.slice(0, 159)}…` : line;
}

const ORDER: Readonly<Record<TerminalTaskStatus, number>> = { failed: 0, cancelled: 1, completed: 2, skipped: 3 };

/**
 * The summary table: one row per task (at most `rows`: failed and cancelled
 * first, then the slowest), then a line of totals.
 *
 * @param result The run's result.
 * @param rows The most task rows to print.
 * @returns The table, lines joined with `\n`.
 */
export function summaryTable(result: RunResult, rows = 20): string {
  const entries = Object.entries(result.tasks) as [string, TaskResult][];
  const counts: Partial<Record<TaskStatus, number>> = {};
  for (const [, t] of entries) counts[t.status] = (counts[t.status] ?? 0) + 1;
  const sorted = entries.slice().sort(([, a], [, b]) =>
    ORDER[a.status] - ORDER[b.status] || (b.durationMs ?? -1) - (a.durationMs ?? -1)
  );
  const shown = sorted.slice(0, Math.max(0, rows));
  const header = ["task", "status", "attempts", "duration", "error"];
  const body = shown.map(([id, t]) => [
    id,
    t.status,
    String(t.attempts),
    t.durationMs === undefined ? "-" : formatMs(t.durationMs),
    t.error === undefined ? "" : oneLine(`${t.error.name}: ${t.error.message}`),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)));
  const right = new Set([2, 3]);
  const fmt = (r: string[]) =>
    r.map((cell, c) => (c === r.length - 1 ? cell : right.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join("  ").trimEnd();
  const lines = [fmt(header), fmt(widths.map((w) => "-".repeat(w)))];
  for (const r of body) lines.push(fmt(r));
  const hidden = sorted.length - shown.length;
  if (hidden > 0) {
    const byStatus: Partial<Record<string, number>> = {};
    for (const [, t] of sorted.slice(shown.length)) byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
    const parts = Object.entries(byStatus).map(([s, n]) => `${n} ${s}`);
    lines.push(`… ${hidden} more (${parts.join(", ")})`);
  }
  const settled = entries.length;
  const totals = TERMINAL_STATUSES
    .filter((s) => (counts[s] ?? 0) > 0).map((s) => `${counts[s]} ${s}`);
  lines.push("");
  lines.push(
    `${result.workflowId} ${result.status} in ${formatMs(result.durationMs)}: ` +
      `${totals.length > 0 ? totals.join(", ") : "no tasks"} (${formatRate(settled, result.durationMs)} tasks/s, ` +
      `run ${result.runId})`,
  );
  if (result.error !== undefined) lines.push(`error: ${oneLine(result.error.message)}`);
  return lines.join("\n");
}
