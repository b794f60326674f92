/**
 * A live dashboard for an engine, served on loopback with `Deno.serve`: a
 * page that draws each run's task graph on a canvas and colours every task
 * as it changes state, with the event stream and per-task timings beside it.
 * Events reach the page as server-sent events from the engine's bus, batched
 * (one message per `flushMs`), so a run of thousands of tasks stays smooth.
 *
 * The page builds the graph from the events alone (`workflow.created` names
 * the tasks, `task.pending` their dependencies): it reads the log, never the
 * actors. The list of runs and their status (`/runs.json`, the runs a page
 * may pick) comes from the engine's projection store (`engine.store`), which
 * holds the runs the log keeps: a run evicted under the retention policy
 * leaves the list.
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
import type { StoreState } from "../src/store.ts";

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
  /**
   * More names the page may be reached by (`Host` header, with or without a
   * port), e.g. a tunnel's. Requests naming any other host are refused (403):
   * a web page that rebinds its DNS name to 127.0.0.1 cannot read the runs.
   * Loopback names (`localhost`, `127.0.0.1`, `[::1]`) on the bound port are
   * always allowed.
   * @default {[]}
   */
  allowedHosts?: readonly string[];
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
 * Every request must name the dashboard in its `Host` header: a loopback name
 * (`localhost`, `127.0.0.1`, `[::1]`) with the bound port (or no port), or one
 * of `allowedHosts`. Others get 403, so a page that rebinds its DNS name to
 * 127.0.0.1 cannot read `/runs.json` or `/events`; a malformed or missing
 * `Host` gets 400. `GET` and `HEAD` are served, other methods get 405.
 *
 * @param engine The engine to watch: its projection store lists the runs and their status (`/runs.json`), its
 *   bus carries the live events, its log replays a run's history to a page that opens.
 * @param options Address, port, batching, title, allowed hosts.
 * @returns The running server; `close()` it when done.
 * @throws {TypeError} An allowed host is not a host name (with an optional port).
 * @throws {RangeError} The hostname is not a loopback address, or a number is out of range.
 */
export function serveDashboard(
  engine: Pick<Engine, "bus" | "log" | "store">,
  options: DashboardOptions = {},
): Dashboard {
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

  /**
   * The projection store's state with every event appended so far folded in (the log folds in batches; a flush
   * hands the store the last one): the runs the log keeps, oldest first, each with its status view.
   */
  const runsNow = (): StoreState => {
    engine.log.flush();
    return engine.store.getSnapshot();
  };

  const stream = (runParam: string | null): Response => {
    let self: ReadableStreamDefaultController<Uint8Array> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        self = controller;
        // What happened so far: the chosen run's events (the latest run by default),
        // then every later event, in batches. Pending live events are flushed first
        // so the history and the live stream do not overlap.
        flush();
        const known = runsNow().runs;
        const runs = Object.keys(known);
        const runId = runParam !== null && Object.hasOwn(known, runParam) ? runParam : runs.at(-1);
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

  const extraHosts = new Set<string>();
  for (const h of options.allowedHosts ?? []) {
    const parsed = typeof h === "string" ? parseHost(h) : undefined;
    if (parsed === undefined) {
      throw new TypeError(`Cannot serve dashboard: allowed host ${JSON.stringify(h)} is malformed`);
    }
    extraHosts.add(parsed.port === undefined ? parsed.name : `${parsed.name}:${parsed.port}`);
  }
  /** Whether the `Host` header names this server: a loopback name on our port, or an allowed host. */
  const hostAllowed = (host: { name: string; port: string | undefined }): boolean => {
    if (extraHosts.has(host.name) || extraHosts.has(`${host.name}:${host.port}`)) return true;
    const loopback = LOOPBACK.has(host.name) || host.name === "[::1]";
    return loopback && (host.port === undefined || Number(host.port) === server.addr.port);
  };
  const text = (body: string, status: number) =>
    new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });

  const server = Deno.serve({
    hostname,
    port,
    onListen: () => {},
  }, (request) => {
    const host = parseHost(request.headers.get("host") ?? "");
    if (host === undefined) return text("Bad request: malformed or missing Host header", 400);
    if (!hostAllowed(host)) return text("Forbidden: unknown Host (the dashboard answers to loopback names only)", 403);
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return text("Bad request: malformed URL", 400);
    }
    const head = request.method === "HEAD";
    if (request.method !== "GET" && !head) {
      return new Response("Method not allowed", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    switch (url.pathname) {
      case "/":
        return new Response(head ? null : page, { headers: { "content-type": "text/html; charset=utf-8" } });
      case "/events":
        if (head) return new Response(null, { headers: { "content-type": "text/event-stream; charset=utf-8" } });
        return stream(url.searchParams.get("run"));
      case "/runs.json": {
        if (head) return new Response(null, { headers: { "content-type": "application/json" } });
        const runs = runsNow().runs;
        return Response.json(Object.keys(runs).map((id) => runs[id]));
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
 * A `Host` header's name (lowercase, IPv6 in brackets) and port, or
 * `undefined` when it is not a valid host (empty, `[::1`, a bad port).
 */
function parseHost(value: string): { name: string; port: string | undefined } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9._~%!$&'()*+,;=-]+)(?::(\d{1,5}))?$/.exec(value.trim());
  if (m === null) return undefined;
  if (m[2] !== undefined && Number(m[2]) > 65535) return undefined;
  return { name: m[1].toLowerCase(), port: m[2] };
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
