/**
 * OpenTelemetry traces from the bus: each run is a span, each task attempt a
 * child span with its status and attributes (task id, profile, attempt).
 * Spans go through `@opentelemetry/api`, so whatever tracer provider is
 * registered receives them: Deno's built-in exporter (`OTEL_DENO=true`), an
 * SDK, or a test's own. With none registered the API is a no-op and nothing
 * is emitted.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "./deps_otel.ts";
import type { EventBus, Unsubscribe } from "./bus.ts";
import type { AnyFlowEvent, ErrorData } from "./types.ts";

/** The tracer name (instrumentation scope) spans are created under. */
export const TRACER_NAME = "nerv-flow";

/** Attribute keys on the spans {@linkcode instrument} creates. */
export const SPAN_ATTRIBUTES: Readonly<{
  runId: "nerv.run.id";
  workflowId: "nerv.workflow.id";
  taskCount: "nerv.workflow.task_count";
  runStatus: "nerv.run.status";
  taskId: "nerv.task.id";
  profile: "nerv.task.profile";
  attempt: "nerv.task.attempt";
  outcome: "nerv.task.outcome";
}> = Object.freeze({
  runId: "nerv.run.id",
  workflowId: "nerv.workflow.id",
  taskCount: "nerv.workflow.task_count",
  runStatus: "nerv.run.status",
  taskId: "nerv.task.id",
  profile: "nerv.task.profile",
  attempt: "nerv.task.attempt",
  outcome: "nerv.task.outcome",
});

/** Options of {@linkcode instrument}. */
export interface InstrumentOptions {
  /**
   * The tracer's name (instrumentation scope), for the registered provider's `getTracer`.
   * @default {"nerv-flow"}
   */
  tracerName?: string;
  /**
   * Make each run span a child of the span active when the run started
   * (e.g. a request handler's), instead of a root span.
   * @default {true}
   */
  inheritContext?: boolean;
}

interface RunSpans {
  span: Span;
  context: Context;
  recording: boolean;
  tasks: Map<string, Span>;
}

/**
 * Traces an engine's runs with OpenTelemetry, through the globally registered
 * tracer provider. Listens to the bus: a span per
 * run (`run <workflow>`, from `workflow.started` to its end, status OK when
 * completed, ERROR when failed or cancelled), and a child span per task
 * attempt (`task <id>`, from `task.started` to `task.completed`,
 * `task.retrying`, `task.failed` or `task.cancelled`; ERROR with the
 * exception recorded when the attempt failed). Skipped tasks are events on
 * the run span. Times are the events' timestamps (the engine's clock).
 *
 * When the run span is not recording (no tracer provider registered, or not
 * sampled), no task spans are made for that run.
 *
 * @param engine An engine, or anything with its `bus`.
 * @param options Tracer name and parent context.
 * @returns A function that stops tracing and ends the spans still open.
 *
 * @example Tracing runs (a no-op until a tracer provider is registered)
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { instrument } from "@nerv/flow/otel";
 * const engine = createEngine();
 * const stop = instrument(engine); // with `OTEL_DENO=true`, Deno exports the spans
 * await engine.run(defineWorkflow({ name: "traced", tasks: [{ id: "a", run: () => 1 }] }));
 * stop();
 * await engine.close();
 * ```
 */
export function instrument(engine: { readonly bus: EventBus }, options: InstrumentOptions = {}): Unsubscribe {
  const tracer = trace.getTracer(options.tracerName ?? TRACER_NAME);
  const inherit = options.inheritContext ?? true;
  const runs = new Map<string, RunSpans>();
  const A = SPAN_ATTRIBUTES;

  const endTask = (run: RunSpans, taskId: string, outcome: string, time: number, error?: ErrorData) => {
    const span = run.tasks.get(taskId);
    if (span === undefined) return;
    run.tasks.delete(taskId);
    span.setAttribute(A.outcome, outcome);
    if (error !== undefined) {
      span.recordException({ name: error.name, message: error.message, stack: error.stack }, time);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    } else if (outcome === "completed") {
      span.setStatus({ code: SpanStatusCode.OK });
    }
    span.end(time);
  };

  const endRun = (runId: string, status: string, time: number, error?: ErrorData) => {
    const run = runs.get(runId);
    if (run === undefined) return;
    runs.delete(runId);
    for (const taskId of [...run.tasks.keys()]) endTask(run, taskId, status, time);
    run.span.setAttribute(A.runStatus, status);
    if (error !== undefined) {
      run.span.recordException({ name: error.name, message: error.message, stack: error.stack }, time);
      run.span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    } else {
      run.span.setStatus({ code: SpanStatusCode.OK });
    }
    run.span.end(time);
  };

  const taskCounts = new Map<string, number>();
  const listener = (e: AnyFlowEvent) => {
    switch (e.type) {
      case "workflow.created":
        taskCounts.set(e.runId, e.data.taskIds.length);
        return;
      case "workflow.started": {
        const attributes: Attributes = { [A.runId]: e.runId, [A.workflowId]: e.workflowId };
        const count = taskCounts.get(e.runId);
        taskCounts.delete(e.runId);
        if (count !== undefined) attributes[A.taskCount] = count;
        const parent = inherit ? context.active() : ROOT_CONTEXT;
        const span = tracer.startSpan(
          `run ${e.workflowId}`,
          { kind: SpanKind.INTERNAL, startTime: e.timestamp, attributes },
          parent,
        );
        runs.set(e.runId, {
          span,
          context: trace.setSpan(parent, span),
          recording: span.isRecording(),
          tasks: new Map(),
        });
        return;
      }
      case "workflow.completed":
        endRun(e.runId, "completed", e.timestamp);
        return;
      case "workflow.failed":
        endRun(e.runId, "failed", e.timestamp, e.data.error);
        return;
      case "workflow.cancelled":
        endRun(e.runId, "cancelled", e.timestamp, e.data.reason);
        return;
    }
    const run = runs.get(e.runId);
    if (run === undefined || !run.recording) return;
    const taskId = e.taskId!;
    switch (e.type) {
      case "task.started": {
        const attempt = e.attempt ?? 1;
        endTask(run, taskId, "restarted", e.timestamp);
        const span = tracer.startSpan(`task ${taskId}`, {
          kind: SpanKind.INTERNAL,
          startTime: e.timestamp,
          attributes: {
            [A.taskId]: taskId,
            [A.profile]: e.data.profile,
            [A.attempt]: attempt,
            [A.runId]: e.runId,
            [A.workflowId]: e.workflowId,
          },
        }, run.context);
        run.tasks.set(taskId, span);
        return;
      }
      case "task.completed":
        endTask(run, taskId, "completed", e.timestamp);
        return;
      case "task.retrying":
        endTask(run, taskId, "retrying", e.timestamp, e.data.error);
        return;
      case "task.failed":
        endTask(run, taskId, "failed", e.timestamp, e.data.error);
        return;
      case "task.cancelled":
        endTask(run, taskId, "cancelled", e.timestamp, e.data.reason);
        return;
      case "task.skipped":
        run.span.addEvent("task.skipped", {
          [A.taskId]: taskId,
          "nerv.task.dependency": e.data.dependency,
          "nerv.task.dependency_status": e.data.dependencyStatus,
        }, e.timestamp);
        return;
    }
  };
  const off = engine.bus.onAny(listener);
  let active = true;
  return () => {
    if (!active) return;
    active = false;
    off();
    const now = Date.now();
    for (const runId of [...runs.keys()]) endRun(runId, "untraced", now);
    taskCounts.clear();
  };
}
