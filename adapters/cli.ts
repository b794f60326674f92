/**
 * The nerv-flow command line: runs a module that exports a workflow and shows
 * it run.
 *
 * ```sh
 * deno run -A jsr:@nerv/flow/cli pipeline.ts          # progress bar, then a summary table
 * deno task run examples/hello.ts --dashboard --keep-open
 * deno run -A jsr:@nerv/flow/cli pipeline.ts --graph mermaid > pipeline.mmd
 * deno run -A jsr:@nerv/flow/cli pipeline.ts --log runs.log              # durable: prints the run id
 * deno run -A jsr:@nerv/flow/cli pipeline.ts --log runs.log --resume <run id>
 * deno run -A jsr:@nerv/flow/cli pipeline.ts --log runs.log --rerun <run id>   # re-execute from failure
 * deno run -A jsr:@nerv/flow/cli pipeline.ts --nats nats://127.0.0.1:4222       # the log on JetStream
 * deno run -A jsr:@nerv/flow/cli pipeline.ts --nats nats://127.0.0.1:4222 --resume <run id>
 * ```
 *
 * The module exports a workflow made by `defineWorkflow`, as its default
 * export or as `workflow`, and may export `input` (the run's input, unless
 * `--input` gives one). On a terminal a live progress bar shows tasks done,
 * running and failed, the elapsed time and the rate; otherwise each task's
 * end is a plain line. A summary table follows; the exit code is 0 when the
 * run completed, 1 when it failed, 130 when Ctrl-C cancelled it, and 2 for a
 * usage or loading error. When standard output is closed early (piped into
 * `head -1`), the output stops quietly and the run goes on: the exit code is
 * still the run's outcome (never 141, never a `BrokenPipe` stack).
 *
 * With `--log <file>` the run goes on the durable file log store
 * (`openFileLogStore` of `@nerv/flow/adapters`, flush policy `batch`): its
 * events are written and synced as it goes, and a run cut off (the process
 * killed, a crash, a second Ctrl-C) is finished later with
 * `--resume <run id> --log <file>`.
 *
 * With `--nats <servers>` the run's log goes on a JetStream stream and the
 * run is owned through a lease (`createCoordinator` of `@nerv/flow/nats`):
 * if this process dies, a standby coordinator, or `--resume <run id> --nats
 * <servers>` from any host, finishes it.
 *
 * @example From code
 * ```ts ignore
 * import { main } from "@nerv/flow/cli";
 * Deno.exit(await main(["pipeline.ts", "--log", "runs.log"]));
 * ```
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import {
  type AnyFlowEvent,
  createEngine,
  defineWorkflow,
  MERMAID_MAX_EDGES,
  type RunResult,
  type RunView,
  type TaskDef,
  toDot,
  toMermaid,
  type Workflow,
} from "../mod.ts";
import { serveDashboard } from "./dashboard.ts";
import { type FileLogStore, openFileLogStore } from "./file_store.ts";
import { LogLockedError, NotALogError } from "./errors.ts";
import { cliProgress } from "./deps.ts";
import type { Coordinator } from "./nats/coordinator.ts";
import { eventLine, formatMs, formatRate, summaryTable } from "./_cli_format.ts";
import { runView } from "../src/store.ts";

/** The `--help` text. */
export const USAGE = `nerv-flow: run a workflow module and watch it run

Usage:
  deno run -A jsr:@nerv/flow/cli [options] <workflow module>
  deno task run [options] <workflow module>

The module exports a workflow from defineWorkflow() as its default export or
as \`workflow\`, and may export \`input\`.

Options:
  --graph <mermaid|dot>  print the workflow's graph (Mermaid or Graphviz DOT) and exit
  --collapse <mode>      with --graph: "none" (every task), "level" (one node per dependency
                         level) or "auto" (level when stock Mermaid could not draw every edge)
  --input <json>         the run's input, as JSON (default: the module's \`input\` export)
  --log <file>           run on the durable file log store <file> (created, or appended to): events
                         are written and synced as the run goes (flush policy "batch"); the run id
                         is printed at the start. Inputs and results must then be JSON data
  --resume <runId>       with --log: finish a run of <file> that was cut off (killed, crashed, a
                         second Ctrl-C); its completed tasks keep their results and do not run
                         again, it keeps its input; a run that had ended shows its stored result.
                         With --nats: take the run over from whoever holds it, and finish it
  --rerun <runId>        with --log: re-execute an ended run of <file> from failure: a new run (its
                         id is printed) keeps the old run's completed tasks and input, and runs the
                         failed, skipped and cancelled tasks again
  --nats <servers>       run with the log on NATS JetStream (stream NERV_FLOW, comma-separated
                         server URLs), the run owned through a lease: if this process dies, a
                         standby coordinator or --resume <runId> --nats <servers> finishes it
  --dashboard            serve a live dashboard on http://127.0.0.1 while the run goes on
  --port <n>             the dashboard's port (default: a free one)
  --keep-open            keep the dashboard served after the run, until Ctrl-C
  --plain                plain lines, even on a terminal
  --quiet                no progress at all, only the summary
  --rows <n>             task rows in the summary table (default 20; failed ones first)
  -h, --help             show this help

Ctrl-C cancels the run (running tasks are aborted); a second Ctrl-C exits at once.
Exit code: 0 when the run completed, 1 when it failed, 130 when interrupted, 2 on
a usage or loading error, when the log cannot be opened or written, or when the
run cannot be resumed. A closed standard output (\`| head -1\`) does not stop the
run: the rest of the output is dropped and the exit code is the run's outcome.`;

/** Where the CLI writes; tests replace it. */
export interface CliIO {
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** Whether standard output is a terminal (live progress bar) or not (plain lines). */
  isTerminal: boolean;
}

const encoder = new TextEncoder();
const DENO_IO: CliIO = {
  out: closable(Deno.stdout),
  err: closable(Deno.stderr),
  get isTerminal() {
    return Deno.stdout.isTerminal();
  },
};

/**
 * A writer to `file` that goes quiet once its reader is gone (`| head -1`
 * closed the pipe): the rest of the output is dropped, the run goes on, and
 * the exit code stays the run's outcome.
 */
function closable(file: { writeSync(p: Uint8Array): number }): (text: string) => void {
  let gone = false;
  return (text) => {
    if (gone) return;
    try {
      let bytes = encoder.encode(text);
      while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
    } catch (error) {
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
      gone = true;
    }
  };
}

/**
 * Runs the command line.
 *
 * @param args The arguments (without the program), e.g. `Deno.args`.
 * @param io Where to write; defaults to the process's stdout and stderr.
 * @returns The exit code: 0 completed, 1 failed, 130 interrupted, 2 usage, loading, log or resume error.
 */
export async function main(args: readonly string[], io: CliIO = DENO_IO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        graph: { type: "string" },
        collapse: { type: "string" },
        input: { type: "string" },
        log: { type: "string" },
        resume: { type: "string" },
        rerun: { type: "string" },
        nats: { type: "string" },
        dashboard: { type: "boolean" },
        port: { type: "string" },
        "keep-open": { type: "boolean" },
        plain: { type: "boolean" },
        quiet: { type: "boolean" },
        rows: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\nRun with --help for usage.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  const usage = (message: string) => {
    io.err(`${message}\n\nRun with --help for usage.\n`);
    return 2;
  };
  if (positionals.length !== 1) return usage("Expected one workflow module");
  if (values.graph !== undefined && values.graph !== "mermaid" && values.graph !== "dot") {
    return usage(`--graph "${values.graph}" must be "mermaid" or "dot"`);
  }
  const collapse = values.collapse ?? "none";
  if (collapse !== "none" && collapse !== "level" && collapse !== "auto") {
    return usage(`--collapse "${collapse}" must be "none", "level" or "auto"`);
  }
  if (values.collapse !== undefined && values.graph === undefined) return usage("--collapse needs --graph");
  const rows = values.rows === undefined ? 20 : Number(values.rows);
  if (!Number.isInteger(rows) || rows < 0) return usage(`--rows "${values.rows}" must be an integer >= 0`);
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return usage(`--port "${values.port}" must be an integer in [0, 65535]`);
  }

  const resumeId = values.resume;
  if (resumeId !== undefined) {
    if (values.log === undefined && values.nats === undefined) {
      return usage("--resume needs --log <file> or --nats <servers>: where the run's log is");
    }
    if (resumeId.length === 0) return usage("--resume needs a run id");
    if (values.input !== undefined) return usage("--input cannot be used with --resume: the run keeps its input");
  }
  const rerunId = values.rerun;
  if (rerunId !== undefined) {
    if (values.log === undefined) return usage("--rerun needs --log <file>: the file that holds the run");
    if (rerunId.length === 0) return usage("--rerun needs a run id");
    if (resumeId !== undefined) return usage("--rerun cannot be used with --resume");
    if (values.input !== undefined) return usage("--input cannot be used with --rerun: the new run keeps the input");
  }

  if (values.log !== undefined && values.nats !== undefined) return usage("--log and --nats cannot be used together");

  const specifier = positionals[0];
  let mod: Record<string, unknown>;
  try {
    mod = await import(moduleUrl(specifier));
  } catch (error) {
    io.err(`Cannot load workflow module "${specifier}": ${(error as Error)?.message ?? error}\n`);
    return 2;
  }
  let workflow: Workflow;
  try {
    workflow = workflowOf(mod, specifier);
  } catch (error) {
    io.err(`${(error as Error).message}\n`);
    return 2;
  }

  if (values.graph !== undefined) {
    const picture = values.graph === "mermaid" ? toMermaid(workflow, { collapse }) : toDot(workflow, { collapse });
    const tooMany = values.graph === "mermaid" ? /^ {2}%% (\d+) edges: stock Mermaid/m.exec(picture) : null;
    if (tooMany !== null) {
      io.err(
        `warning: ${tooMany[1]} edges; stock Mermaid draws at most ${MERMAID_MAX_EDGES}: ` +
          `add --collapse level for one node per dependency level\n`,
      );
    }
    io.out(picture);
    return 0;
  }

  let input: unknown = mod.input;
  if (values.input !== undefined) {
    try {
      input = JSON.parse(values.input);
    } catch (error) {
      return usage(`--input is not valid JSON: ${(error as Error).message}`);
    }
  }

  let store: FileLogStore | undefined;
  if (values.log !== undefined) {
    const path = values.log;
    const problem = await logFileProblem(path, resumeId !== undefined || rerunId !== undefined);
    if (problem !== undefined) {
      io.err(`${problem}\n`);
      return 2;
    }
    try {
      store = await openFileLogStore(path, {
        flush: "batch",
        onRecover: (r) =>
          io.err(
            `log "${r.path}": cut off a damaged tail from line ${r.line} (${r.reason}; ${r.droppedBytes} bytes), ` +
              `left by a write the run never acknowledged\n`,
          ),
      });
    } catch (error) {
      // A held or foreign file: its error says it all (who holds it, or that nothing was changed).
      io.err(
        error instanceof LogLockedError || error instanceof NotALogError
          ? `${error.message}\n`
          : `Cannot open the log "${path}": ${(error as Error)?.message ?? error}\n`,
      );
      return 2;
    }
    const wanted = resumeId ?? rerunId;
    if (wanted !== undefined && !store.runs().includes(wanted)) {
      const runs = store.runs();
      const held = runs.length === 0
        ? "it holds no run"
        : runs.length <= 10
        ? `it holds ${runs.map((id) => `"${id}"`).join(", ")}`
        : `it holds ${runs.length} runs, the latest "${runs.at(-1)}"`;
      const verb = resumeId !== undefined ? "resume" : "re-run";
      io.err(`Cannot ${verb} run "${wanted}": the log "${path}" has no such run (${held})\n`);
      await store.close();
      return 2;
    }
  }

  let coordinator: Coordinator | undefined;
  if (values.nats !== undefined) {
    try {
      // Loaded only here: runs without --nats do not load the NATS client.
      const { createCoordinator } = await import("./nats/coordinator.ts");
      coordinator = await createCoordinator({
        servers: values.nats,
        workflows: [workflow as Workflow<never>],
        takeover: false,
        engine: () => engine,
      });
    } catch (error) {
      io.err(`Cannot open the log on NATS "${values.nats}": ${(error as Error)?.message ?? error}\n`);
      return 2;
    }
  }

  const engine = createEngine(
    store !== undefined ? { logStore: store } : coordinator !== undefined ? { logStore: coordinator.store } : {},
  );
  const dashboard = values.dashboard ? serveDashboard(engine, { port, title: workflow.name }) : undefined;
  if (dashboard !== undefined) io.out(`dashboard: ${dashboard.url}\n`);
  const mode = values.quiet ? "quiet" : io.isTerminal && !values.plain ? "bar" : "plain";
  const total = workflow.tasks.length;
  const runId = resumeId ?? crypto.randomUUID();
  let startedAt = Date.now();
  let offBus = () => {};
  let offView = () => {};
  let bar: InstanceType<typeof cliProgress.SingleBar> | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let interrupted = false;
  let failedExit = false;
  let barStopped = false;
  /** Whether this process ran the run (an event of it was heard): a resumed run that had ended does not. */
  let began = false;
  const controller = new AbortController();
  /**
   * The run's status view as the projection store last had it, once the log has the run (a resumed run: once its
   * `workflow.resumed` is in); the bar subscribes to it.
   */
  let view: RunView | undefined;
  const drawBar = () => {
    const v = view;
    if (v === undefined) return;
    const c = v.counts;
    const done = c.completed + c.failed + c.skipped + c.cancelled;
    const elapsed = (v.endedAt ?? Date.now()) - (v.startedAt ?? startedAt);
    bar!.update(done, {
      running: c.running,
      failed: c.failed,
      elapsed: formatMs(elapsed),
      rate: formatRate(done, elapsed),
    });
  };
  /** Draws the bar a last time and releases the line, once. */
  const stopBar = () => {
    if (bar === undefined || barStopped) return;
    barStopped = true;
    clearInterval(ticker);
    engine.log.flush(); // the store takes in the events not yet folded: the last draw shows all of them
    drawBar();
    bar.stop();
  };
  const onSigint = () => {
    if (interrupted) Deno.exit(130);
    interrupted = true;
    stopBar();
    io.err("Interrupted: cancelling the run (Ctrl-C again to force)\n");
    controller.abort(new Error("Interrupted (SIGINT)"));
  };
  let result: RunResult | undefined;
  try {
    offBus = engine.bus.onAny((e: AnyFlowEvent) => {
      if (e.runId !== runId) return;
      began = true;
      if (mode !== "plain") return;
      if (e.type === "workflow.started") startedAt = e.timestamp;
      if (e.type === "workflow.resumed") {
        startedAt = e.timestamp;
        const kept = e.data.state.tasks.filter((t) => t?.status === "completed").length;
        const cut = e.data.interrupted.length;
        io.out(
          `[${formatMs(0).padStart(8)}] resumed   ${e.workflowId} (run ${e.runId}): ${kept} completed kept, ` +
            `${e.data.rerun.length} to run${cut > 0 ? ` (${cut} cut off)` : ""}\n`,
        );
        return;
      }
      const line = eventLine(e, startedAt);
      if (line !== undefined) io.out(`${line}\n`);
    });
    if (coordinator !== undefined) {
      io.out(
        resumeId === undefined
          ? `run: ${runId}\nbroker: ${values.nats} (if this process dies: --resume ${runId} --nats ${values.nats})\n`
          : `taking run ${runId} over on ${values.nats}\n`,
      );
    }
    if (store !== undefined) {
      io.out(
        resumeId !== undefined
          ? `resuming run ${runId} from ${store.path}\n`
          : `${
            rerunId === undefined ? "" : `re-running run ${rerunId} from failure\n`
          }run: ${runId}\nlog: ${store.path} ` +
            `(if the run is cut off: --resume ${runId} --log ${store.path})\n`,
      );
    }
    if (mode === "bar") {
      offView = engine.store.select((s) => runView(s, runId), (v) => view = v);
      bar = new cliProgress.SingleBar({
        format: `${workflow.name} {bar} {value}/{total} done | {running} running | {failed} failed | ` +
          `{elapsed} | {rate} tasks/s`,
        stream: process.stdout,
        hideCursor: true,
        barsize: 28,
        fps: 10,
        etaBuffer: 50,
      }, cliProgress.Presets.shades_classic);
      bar.start(total, 0, { running: 0, failed: 0, elapsed: formatMs(0), rate: "0" });
      ticker = setInterval(drawBar, 100);
    }
    Deno.addSignalListener("SIGINT", onSigint);
    let pending: Promise<RunResult>;
    try {
      pending = coordinator !== undefined
        ? (resumeId === undefined
          ? coordinator.start(workflow, { runId, input, signal: controller.signal }).then((h) => h.result)
          : coordinator.resume(runId, { signal: controller.signal }))
        : resumeId !== undefined
        ? engine.resume(workflow, runId, { signal: controller.signal })
        : rerunId !== undefined
        ? engine.rerun(workflow, rerunId, { runId, signal: controller.signal })
        : engine.start(workflow, { runId, input, signal: controller.signal }).result;
    } catch (error) {
      // A refused start (with --log: an input that is not JSON data).
      stopBar();
      io.err(`Cannot start the run: ${(error as Error)?.message ?? error}\n`);
      return 2;
    }
    try {
      result = await pending;
    } catch (error) {
      stopBar();
      const message = (error as Error)?.message ?? error;
      io.err(
        resumeId !== undefined && !began
          ? `Cannot resume run "${runId}" from "${store?.path ?? values.nats}": ${message}\n`
          : rerunId !== undefined && !began
          ? `Cannot re-run run "${rerunId}" from "${store?.path ?? values.nats}": ${message}\n`
          : `Cannot write the log "${store?.path ?? values.nats}": ${message}\n`,
      );
      failedExit = true;
    }
    stopBar();
    if (result !== undefined) {
      if (resumeId !== undefined && !began) {
        io.out(`run ${runId} had already ended (${result.status}); nothing ran again. Its stored result:\n`);
      }
      io.out(`\n${summaryTable(result, rows)}\n`);
      if (store !== undefined) io.out(`log: ${store.path}\n`);
    }
    if (dashboard !== undefined && values["keep-open"]) {
      io.out(`dashboard still served at ${dashboard.url}; press Ctrl-C to exit\n`);
      await new Promise<void>((resolve) => {
        Deno.removeSignalListener("SIGINT", onSigint);
        const stop = () => {
          Deno.removeSignalListener("SIGINT", stop);
          resolve();
        };
        Deno.addSignalListener("SIGINT", stop);
      });
    }
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
    stopBar();
    try {
      Deno.removeSignalListener("SIGINT", onSigint);
    } catch {
      // not added
    }
    offBus();
    offView();
    await dashboard?.close();
    await engine.close();
    await store?.close();
    await coordinator?.close({ handOver: false });
  }
  if (failedExit || result === undefined) return 2;
  return interrupted ? 130 : result.status === "completed" ? 0 : 1;
}

/**
 * The run's events as JSON lines: a header, then one event per line. Values
 * JSON cannot hold (BigInt, cycles) are written as strings. (`--log` wrote
 * this when a run ended before it ran on the durable file store; kept for
 * code that exports events, e.g. `logLines(engine.log.events(runId))`.)
 *
 * @param events The events.
 * @returns The text.
 */
export function logLines(events: readonly AnyFlowEvent[]): string {
  const lines = [JSON.stringify({ format: "nerv-flow/log", version: 1 })];
  for (const e of events) {
    let line: string;
    try {
      line = JSON.stringify(e, (_key, value) => (typeof value === "bigint" ? `${value}n` : value));
    } catch {
      line = JSON.stringify({ ...e, data: { unserializable: true } });
    }
    lines.push(line);
  }
  return lines.join("\n") + "\n";
}

const RECORD_START = encoder.encode('{"crc":"');

/**
 * Why `--log <file>` must not use the file: opening a file store cuts off a
 * damaged tail, and a file with no record at all is all tail, so a file that
 * is not a log store (a JSON-lines log of an older CLI, a file named by
 * mistake) is refused before it is opened. For `--resume`, the file must exist.
 */
async function logFileProblem(path: string, resuming: boolean): Promise<string | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (resuming && error instanceof Deno.errors.NotFound) return `Cannot resume: there is no log "${path}"`;
    return undefined; // a new file, or an error opening the store reports
  }
  try {
    const head = new Uint8Array(RECORD_START.length);
    let n = 0;
    try {
      while (n < head.length) {
        const read = await file.read(head.subarray(n));
        if (read === null) break;
        n += read;
      }
    } catch {
      return undefined; // e.g. a directory: opening the store reports it
    }
    // Empty, or starts like a record (a torn first record is the store's to recover).
    if (head.subarray(0, n).every((b, i) => b === RECORD_START[i])) return undefined;
    return `Cannot use "${path}" as the log: it is not a nerv-flow log store file (its first line is not a ` +
      `record; --log of an older nerv-flow wrote JSON lines); give another file`;
  } finally {
    file.close();
  }
}

function moduleUrl(specifier: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier) && !/^[a-z]:[\\/]/i.test(specifier)) return specifier;
  const cwd = Deno.cwd().replace(/\\/g, "/");
  const base = new URL(`file://${cwd.startsWith("/") ? "" : "/"}${cwd}/`);
  return new URL(specifier.replace(/\\/g, "/"), base).href;
}

/**
 * The workflow a module exports (default, then `workflow`). A workflow made by
 * another copy of nerv-flow (e.g. the module imports it from JSR while this
 * CLI runs from source) is validated again by this copy.
 */
function workflowOf(mod: Record<string, unknown>, specifier: string): Workflow {
  const candidate = mod.default ?? mod.workflow;
  const looksLike = (v: unknown): v is Workflow =>
    v !== null && typeof v === "object" && typeof (v as Workflow).name === "string" &&
    Array.isArray((v as Workflow).tasks);
  if (!looksLike(candidate)) {
    throw new TypeError(
      `Cannot run "${specifier}": it exports no workflow (export one from defineWorkflow() as default or as "workflow")`,
    );
  }
  return defineWorkflow({
    name: candidate.name,
    description: candidate.description,
    tasks: candidate.tasks as readonly TaskDef[],
  });
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
