/**
 * A live dashboard for an engine, served on loopback with `Deno.serve`: a
 * page that draws each run's task graph on a canvas and colours every task
 * as it changes state, with the event stream and per-task timings beside it.
 * Events reach the page as server-sent events from the engine's bus, batched
 * (one message per `flushMs`), so a run of thousands of tasks stays smooth.
 *
 * The page builds the graph from the events alone (`workflow.created` names
 * the tasks, `task.pending` their dependencies): it reads the log, never the
 * actors.
 *
 * @example Watching a run
 * ```ts ignore
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { serveDashboard } from "@nerv/flow/dashboard";
 *
 * const engine = createEngine();
 * const dashboard = serveDashboard(engine, { port: 8787 });
 * console.log(`open ${dashboard.url}`);
 * await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * await dashboard.close();
 * await engine.close();
 * ```
 *
 * @module
 */
import type { AnyFlowEvent, Engine } from "../mod.ts";
import { STATUS_COLORS } from "../mod.ts";
import { dashboardPage } from "./dashboard_page.ts";

/** Options of {@linkcode serveDashboard}. */
export interface DashboardOptions {
  /**
   * The loopback address to listen on: `127.0.0.1`, `::1` or `localhost`.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port; 0 picks a free one (read it from `url`).
   * @default {0}
   */
  port?: number;
  /**
   * Events are sent to the page in batches, at most one message per this many milliseconds.
   * @default {100}
   */
  flushMs?: number;
  /**
   * The page's title.
   * @default {"nerv-flow"}
   */
  title?: string;
  /** Called once the server listens. */
  onListen?: (url: string) => void;
}

/** A running dashboard server. */
export interface Dashboard {
  /** The page's address, e.g. `http://127.0.0.1:8787/`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Pages connected now. */
  readonly clients: number;
  /**
   * Sends pending events, closes every page's stream and stops the server.
   *
   * @returns When the server has stopped.
   */
  close(): Promise<void>;
}

/**
 * One event on the wire: `[seq, type, runId, taskId, attempt, timestamp, extra]`,
 * where `extra` carries only what the page draws (never task results).
 */
export type WireEvent = [
  seq: number,
  type: string,
  runId: string,
  taskId: string | null,
  attempt: number | null,
  timestamp: number,
  extra: unknown,
];

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
const encoder = new TextEncoder();

/**
 * Serves the live dashboard of an engine on loopback.
 *
 * @param engine The engine to watch (its bus and log).
 * @param options Address, port, batching, title.
 * @returns The running server; `close()` it when done.
 * @throws {RangeError} The hostname is not a loopback address, or a number is out of range.
 */
export function serveDashboard(engine: Pick<Engine, "bus" | "log">, options: DashboardOptions = {}): Dashboard {
  const hostname = options.hostname ?? "127.0.0.1";
  if (!LOOPBACK.has(hostname)) {
    throw new RangeError(
      `Cannot serve dashboard on "${hostname}": only loopback addresses (127.0.0.1, ::1) are allowed`,
    );
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot serve dashboard: port ${port} must be an integer in [0, 65535]`);
  }
  const flushMs = options.flushMs ?? 100;
  if (!(flushMs >= 0 && Number.isFinite(flushMs))) {
    throw new RangeError(`Cannot serve dashboard: flushMs ${flushMs} must be a finite number >= 0`);
  }
  const page = dashboardPage(options.title ?? "nerv-flow", STATUS_COLORS);
  const clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  let pending: WireEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const send = (controller: ReadableStreamDefaultController<Uint8Array>, chunk: Uint8Array) => {
    try {
      controller.enqueue(chunk);
    } catch {
      clients.delete(controller);
    }
  };
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const chunk = encoder.encode(`data: ${JSON.stringify(pending)}\n\n`);
    pending = [];
    for (const c of clients) send(c, chunk);
  };
  const offBus = engine.bus.onAny((event) => {
    if (clients.size === 0) return;
    pending.push(toWire(event));
    timer ??= setTimeout(flush, flushMs);
  });

  const stream = (runParam: string | null): Response => {
    let self: ReadableStreamDefaultController<Uint8Array> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        self = controller;
        // What happened so far: the chosen run's events (the latest run by default),
        // then every later event, in batches. Pending live events are flushed first
        // so the history and the live stream do not overlap.
        flush();
        const state = engine.log.state();
        const runs = state.runs();
        const runId = runParam !== null && runs.includes(runParam) ? runParam : runs.at(-1);
        const history = runId === undefined ? [] : engine.log.events(runId).map(toWire);
        controller.enqueue(encoder.encode(`event: hello\ndata: ${JSON.stringify({ runs, runId: runId ?? null })}\n\n`));
        for (let i = 0; i < history.length; i += 5000) {
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(history.slice(i, i + 5000))}\n\n`));
        }
        clients.add(controller);
      },
      cancel() {
        if (self !== undefined) clients.delete(self);
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      },
    });
  };

  const server = Deno.serve({
    hostname,
    port,
    onListen: () => {},
  }, (request) => {
    const url = new URL(request.url);
    if (request.method !== "GET") return new Response("Method not allowed", { status: 405 });
    switch (url.pathname) {
      case "/":
        return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
      case "/events":
        return stream(url.searchParams.get("run"));
      case "/runs.json": {
        const state = engine.log.state();
        const runs = state.runs().map((id) => state.project("workflowStatus", id));
        return Response.json(runs);
      }
      default:
        return new Response("Not found", { status: 404 });
    }
  });
  const address = server.addr;
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  const url = `http://${host}:${address.port}/`;
  options.onListen?.(url);

  return {
    url,
    port: address.port,
    get clients() {
      return clients.size;
    },
    async close() {
      if (closed) return server.finished;
      closed = true;
      offBus();
      flush();
      for (const c of clients) {
        try {
          c.close();
        } catch {
          // already closed by the page
        }
      }
      clients.clear();
      await server.shutdown();
    },
  };
}

/**
 * An event as the page receives it.
 *
 * @param e The event.
 * @returns Its wire form.
 */
export function toWire(e: AnyFlowEvent): WireEvent {
  let extra: unknown = null;
  switch (e.type) {
    case "workflow.created":
      extra = { name: e.data.name, taskIds: e.data.taskIds };
      break;
    case "task.pending":
      extra = e.data.dependsOn;
      break;
    case "task.started":
      extra = e.data.profile;
      break;
    case "task.retrying":
      extra = { message: e.data.error.message, delayMs: e.data.delayMs };
      break;
    case "task.failed":
      extra = { message: e.data.error.message };
      break;
    case "task.cancelled":
      extra = { message: e.data.reason.message };
      break;
    case "task.skipped":
      extra = { dependency: e.data.dependency, status: e.data.dependencyStatus };
      break;
    case "workflow.failed":
      extra = { message: e.data.error.message, durationMs: e.data.durationMs };
      break;
    case "workflow.cancelled":
      extra = { message: e.data.reason.message, durationMs: e.data.durationMs };
      break;
    case "workflow.completed":
      extra = { durationMs: e.data.durationMs };
      break;
  }
  return [e.seq, e.type, e.runId, e.taskId ?? null, e.attempt ?? null, e.timestamp, extra];
}
