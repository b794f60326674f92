// The benchmark suite (`deno task bench`): runs every benchmark of bench/ as a subprocess, in one go, and
// writes bench/RESULTS.md: the machine, a summary, and each benchmark's Markdown tables as its script printed
// them (every figure absolute, with its ratio to a baseline measured in the same run). Each script stays
// runnable alone; this file only runs them, collects their tables and their `summary:` lines, and adds the
// validation benchmark's table from `deno bench --json`. The npm worker-pool peers (piscina, workerpool) run
// under Deno inside workers_compare.ts, and again under Node (bench/_node_peers.mjs, installed with npm into a
// temporary directory) when `node` and `npm` are on PATH.
//
// Usage: deno run -A bench/suite.ts [--scale] [--trials 3] [--no-node] [--out bench/RESULTS.md] [--soak-runs 1000000]
//          [--only graph,dag,typed,dynamic,workers,node,makespan,durability,natslog,scale,size,profile,small,soak,
//                  profile-small]
// (-A because Deno reads /proc/cpuinfo only with it; each benchmark runs with its own, narrower permissions.)
// --scale adds the 1,000,000-task runs of scale.ts (minutes, and several GB of memory);
// `deno task bench:scale` runs scale.ts alone with them.
import { fileURLToPath } from "node:url";

const args = Deno.args;
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
const trials = Number(option("trials") ?? 3);
const withScale = flag("scale");
const only = option("only")?.split(",");
const root = fileURLToPath(new URL("..", import.meta.url));
const out = option("out") ?? `${root}bench/RESULTS.md`;
const deno = Deno.execPath();
const suiteStart = performance.now();
const startedAt = new Date();
const loadAtStart = loadavg();
let nodeVersions: string | undefined;

/** What one benchmark section produced. */
interface Section {
  key: string;
  title: string;
  about: string;
  commands: string[];
  seconds: number;
  body: string;
  summary: string[];
  failed?: string;
}

interface Output {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

// deno-lint-ignore no-control-regex
const ansi = /\x1b\[[0-9;]*m/g;

/** Runs a command in the repository root, echoing its output as it comes and capturing it. */
async function run(cmd: string, cmdArgs: string[], echo = true): Promise<Output> {
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args: cmdArgs,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const collect = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout | typeof Deno.stderr) => {
    let text = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (echo) await sink.write(new TextEncoder().encode(chunk));
    }
    return text;
  };
  const [stdout, stderr, status] = await Promise.all([
    collect(child.stdout, Deno.stdout),
    collect(child.stderr, Deno.stderr),
    child.status,
  ]);
  return {
    code: status.code,
    stdout: stdout.replace(ansi, ""),
    stderr: stderr.replace(ansi, ""),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** A shell-like rendering of a command, for the report. */
const show = (cmd: string, cmdArgs: string[]) =>
  [cmd === deno ? "deno" : cmd, ...cmdArgs].map((a) => (/\s/.test(a) ? `'${a}'` : a))
    .join(" ");

/**
 * Turns a script's stdout into Markdown: `summary:` lines are taken out (they go to the summary), tables and
 * headings get blank lines around them, and other lines become paragraphs of their own.
 */
/** Whether `nats-server` (or `NATS_SERVER`) can be started here. */
function hasNatsServer(): boolean {
  try {
    return new Deno.Command(Deno.env.get("NATS_SERVER") ?? "nats-server", { args: ["--version"], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

function toMarkdown(stdout: string): { body: string; summary: string[] } {
  const summary: string[] = [];
  const lines: string[] = [];
  let previous: "blank" | "table" | "text" | "heading" | "list" = "blank";
  for (const raw of stdout.split("\n")) {
    const line = raw.trimEnd();
    if (line.startsWith("summary: ")) {
      summary.push(line.slice("summary: ".length));
      continue;
    }
    const kind = line === ""
      ? "blank"
      : line.startsWith("|")
      ? "table"
      : line.startsWith("#")
      ? "heading"
      : line.startsWith("- ")
      ? "list"
      : "text";
    if (kind === "blank") {
      if (previous !== "blank") lines.push("");
    } else {
      const joins = kind === previous && (kind === "table" || kind === "list");
      if (!joins && previous !== "blank") lines.push("");
      lines.push(kind === "heading" ? `#${line}` : line); // the scripts' ### become #### under each ##
    }
    previous = kind;
  }
  return { body: lines.join("\n").trim(), summary };
}

function failure(o: Output): string {
  const tail = o.stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("Download")).slice(-15);
  return `exit code ${o.code}\n\n\`\`\`\n${tail.join("\n")}\n\`\`\``;
}

const commitAtStart = await commit();
const sections: Section[] = [];
const wanted = (key: string) => only === undefined || only.includes(key);
const perms = ["--allow-read", "--allow-env"];

/** Runs one script of bench/ and keeps its Markdown. */
async function script(
  key: string,
  title: string,
  about: string,
  denoArgs: string[],
): Promise<Output | undefined> {
  if (!wanted(key)) return undefined;
  console.error(`\n[suite] ${title}: ${show(deno, denoArgs)}`);
  const o = await run(deno, denoArgs);
  const { body, summary } = toMarkdown(o.stdout);
  sections.push({
    key,
    title,
    about,
    commands: [show(deno, denoArgs)],
    seconds: o.seconds,
    body,
    summary,
    failed: o.code === 0 ? undefined : failure(o),
  });
  return o;
}

// ---- validation and planning: deno bench --json ------------------------------------------------
if (wanted("graph")) {
  const benchArgs = ["bench", "--json", ...perms, "bench/graph_bench.ts"];
  console.error(`\n[suite] validation and planning: ${show(deno, benchArgs)}`);
  const o = await run(deno, benchArgs, false);
  const section: Section = {
    key: "graph",
    title: "Validation and planning, 100,000 tasks",
    about: "`defineWorkflow` (validation, copies, freezing) and `plan` (levels, dispatch order, critical path) on " +
      "100,000-task DAGs, against a hand-written floor that checks only what validation must (unique ids, known " +
      "dependencies, no cycle: a map of ids and Kahn's algorithm). `deno bench` runs each as many times as it " +
      "sees fit; the figures are the minimum over those iterations.",
    commands: [show(deno, benchArgs)],
    seconds: o.seconds,
    body: "",
    summary: [],
  };
  try {
    if (o.code !== 0) throw new Error("deno bench failed");
    interface Bench {
      group: string;
      name: string;
      results: { ok?: { n: number; min: number } }[];
    }
    const report = JSON.parse(o.stdout) as { benches: Bench[] };
    const groups = new Map<string, Map<string, { ms: number; n: number }>>();
    for (const b of report.benches) {
      const ok = b.results[0]?.ok;
      if (ok === undefined) throw new Error(`${b.name} failed`);
      const kind = b.name.split(",")[0].startsWith("hand-written") ? "floor" : b.name.split(",")[0];
      const g = groups.get(b.group) ?? new Map();
      g.set(kind, { ms: ok.min / 1e6, n: ok.n });
      groups.set(b.group, g);
    }
    const rows = [
      "| shape | floor ms | defineWorkflow ms | defineWorkflow × floor | plan ms | plan × floor | iterations |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ];
    const define: number[] = [];
    const planX: number[] = [];
    for (const [group, g] of groups) {
      const floor = g.get("floor")!, def = g.get("defineWorkflow")!, pl = g.get("plan")!;
      define.push(def.ms / floor.ms);
      planX.push(pl.ms / floor.ms);
      rows.push(
        `| ${group.replace("validate 100k ", "")} | ${floor.ms.toFixed(1)} | ${def.ms.toFixed(1)} | ${
          (def.ms / floor.ms).toFixed(2)
        }× | ${pl.ms.toFixed(1)} | ${(pl.ms / floor.ms).toFixed(2)}× | ${floor.n} / ${def.n} / ${pl.n} |`,
      );
    }
    section.body = rows.join("\n");
    console.log(section.body);
    const span = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}×`;
    const defMs = [...groups.values()].map((g) => g.get("defineWorkflow")!.ms);
    section.summary.push(
      `validating 100,000 tasks: defineWorkflow ${Math.min(...defMs).toFixed(0)}–${Math.max(...defMs).toFixed(0)} ms (${
        span(define)
      } the hand-written floor); plan ${span(planX)} the floor`,
    );
  } catch (e) {
    section.failed = `${e instanceof Error ? e.message : e}\n\n${failure(o)}`;
  }
  sections.push(section);
}

// ---- the scripts ---------------------------------------------------------------------------------
const t = ["--trials", String(trials)];
await script(
  "dag",
  "Engine overhead on DAGs of no-op tasks",
  "Creation to final state of a workflow of no-op tasks (wide: no edges; chain; layered: 20 layers, 3 " +
    "dependencies each), µs per task: a hand-written Kahn scheduler calling each no-op synchronously (the floor), " +
    "the npm promise-DAG runner p-graph, and nerv-flow (`defineWorkflow` + `engine.run`, with actors, events and " +
    "the log).",
  ["run", ...perms, "bench/dag_compare.ts", ...t],
);
await script(
  "typed",
  "Type-checking typed workflows",
  "`deno check` of a generated 200-task workflow written with `flow()` (each task reading up to 3 earlier results " +
    "through typed `deps`) against the same workflow in the object form and a file that only imports the package; " +
    "CPU time of the check (it stands on a loaded machine) and wall time.",
  ["run", ...perms, "--allow-write", "--allow-run", "--allow-sys=loadavg", "bench/typed_check.ts", ...t],
);
await script(
  "dynamic",
  "Spawned tasks vs tasks declared up front",
  "A map over N items spawned at run time (`ctx.spawn` + `mapTasks`, then a fan-in) against the same shape " +
    "declared up front (a root, N tasks depending on it, a fan-in), no-op bodies, definition to final state; " +
    "the static run is the baseline.",
  ["run", ...perms, "bench/dynamic_compare.ts", ...t],
);
const workers = await script(
  "workers",
  "Worker pools",
  "CPU-bound speedup, dispatch throughput of 100,000 no-op tasks (with the npm peers piscina and workerpool run " +
    "under Deno through `node:worker_threads`), single-task latency and a DAG of worker tasks. Every pool has as " +
    "many workers as the machine has hardware threads.",
  ["run", ...perms, "--allow-sys=cpus", "bench/workers_compare.ts", ...t],
);

if (wanted("node") && !flag("no-node")) {
  const section: Section = {
    key: "node",
    title: "Worker-pool peers under Node",
    about: "The same 100,000 no-op tasks through piscina and workerpool on their own runtime, with a raw " +
      "`worker_threads` floor measured by the same Node process; the last column compares with the nerv-flow " +
      "pool's figure under Deno in table (b) above (a ratio across runtimes, for orientation).",
    commands: [],
    seconds: 0,
    body: "",
    summary: [],
  };
  const t0 = performance.now();
  let dir: string | undefined;
  try {
    const node = await run("node", ["--version"], false).catch(() => undefined);
    const npm = await run("npm", ["--version"], false).catch(() => undefined);
    if (node?.code !== 0 || npm?.code !== 0) throw new Error("`node` or `npm` is not on PATH: skipped");
    nodeVersions = `Node ${node.stdout.trim()}, npm ${npm.stdout.trim()}`;
    // The same versions as Deno resolved (deno.lock), so both runtimes run the same code.
    const peers = ["piscina", "workerpool"].map((name) => `${name}@${lockedVersion(name) ?? "latest"}`);
    dir = await Deno.makeTempDir({ prefix: "nerv-node-peers-" });
    await Deno.writeTextFile(`${dir}/package.json`, JSON.stringify({ private: true }));
    const installArgs = ["install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", ...peers];
    section.commands.push(show("npm", installArgs.map((a) => (a === dir ? "<temporary directory>" : a))));
    console.error(`\n[suite] Node peers: npm ${installArgs.join(" ")}`);
    const install = await run("npm", installArgs);
    if (install.code !== 0) throw new Error(`npm install failed\n\n${failure(install)}`);
    const ours = workers?.stdout.split("\n").find((l) => l.startsWith("| nerv-flow pool"))?.split("|")[5]?.trim();
    const nodeArgs = ["bench/_node_peers.mjs", "--dir", dir, ...t, ...(ours ? ["--ours", ours] : [])];
    section.commands.push(show("node", nodeArgs.map((a) => (a === dir ? "<temporary directory>" : a))));
    console.error(`[suite] Node peers: node ${nodeArgs.join(" ")}`);
    const o = await run("node", nodeArgs);
    const { body, summary } = toMarkdown(o.stdout);
    section.body = body;
    section.summary = summary;
    if (o.code !== 0) section.failed = failure(o);
  } catch (e) {
    section.failed = e instanceof Error ? e.message : String(e);
  } finally {
    if (dir !== undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  section.seconds = (performance.now() - t0) / 1000;
  sections.push(section);
}

await script(
  "makespan",
  "Scheduling quality: makespan",
  "A seeded random DAG of 2,000 tasks with long-tailed durations, run on the virtual clock (deterministic, so one " +
    "run per cell): makespan and its ratio to the lower bound max(critical path, total work / workers), for " +
    "critical-path-first ordering (with and without duration estimates), FIFO ready order and a level-by-level " +
    "schedule.",
  ["run", ...perms, "bench/makespan.ts"],
);
await script(
  "durability",
  "The cost of durability",
  "The DAG benchmark on the memory store (the baseline) and on the durable stores under each flush policy " +
    "(file: none, batch, event; Deno KV: batch), and resuming a run from a ~100,000-event file log with and " +
    "without run checkpoints. `file:event` runs only up to 1,000 tasks and KV up to 10,000.",
  ["run", ...perms, "--allow-write", "bench/durability_compare.ts", ...t],
);
if (hasNatsServer()) {
  await script(
    "natslog",
    "The log on JetStream and coordinator failover",
    "On a local nats-server (one node, R1): append throughput and the per-task cost of a durable run on the " +
      "JetStream log store against the file store (flush batch) in the same run, and the takeover time when the " +
      "coordinator owning a run is SIGKILLed and a standby process (lease 500 ms) finishes it. JetStream " +
      "acknowledges a write once the server has it in its file, without an fsync (nats-server syncs every 2 min " +
      "by default); the file store fsyncs every batch.",
    ["run", "-A", "bench/nats_log_compare.ts"],
  );
}
await script(
  "scale",
  withScale ? "Scale: up to 1,000,000 tasks" : "Scale: 10,000 and 100,000 tasks",
  "Per-task overhead and memory as the workflow grows, against the same shape at 10,000 tasks measured in the " +
    "same process; memory per task retained at the end of the run and with only the log kept (heap after two " +
    "forced GCs)." +
    (withScale ? "" : " The 1,000,000-task runs are left out of `deno task bench`; `deno task bench --scale` adds " +
      "them here, and `deno task bench:scale` prints them alone."),
  [
    "run",
    ...perms,
    "--v8-flags=--expose-gc,--max-old-space-size=16384",
    "bench/scale.ts",
    "--sizes",
    withScale ? "10000,100000,1000000" : "10000,100000",
  ],
);
await script(
  "size",
  "Edge bundle size",
  "`mod.ts` bundled into one minified ES module for browsers and edge runtimes (`deno bundle --platform browser " +
    "--minify`), in KiB and gzip KiB, and what each npm dependency adds (the bundle minus the same bundle with " +
    "that package external). Deterministic: one build each. The budget is kept by tests/edge_bundle_size_test.ts.",
  ["run", ...perms, "--allow-run", "--allow-write=/tmp", "bench/bundle_size.ts"],
);

// ---- a long-lived engine: small runs, the soak, and where a small run's time goes ------------------------
await script(
  "small",
  "Small workflows on one long-lived engine",
  "A 5-task diamond (root → 3 → sink) and a 20-task fan-out (root → 18 → sink), no-op bodies, run one after " +
    "another on one `createEngine({ workers: false })` with actors, events and the log on, against p-graph " +
    "running the same graph in the same process: µs per run (the mean of the best trial) and single-run " +
    "latency (p50, p99); the same latencies of fixed synchronous work as long as nerv-flow's p50 (the tail the " +
    "machine itself adds at that duration); then a 10,000-task run after a forced GC and a 200 ms pause against " +
    "one right after another run, for both (the heap-state sensitivity of per-task overhead).",
  ["run", ...perms, "--allow-run", "--v8-flags=--expose-gc", "bench/small_runs.ts", ...t],
);
const soakRuns = option("soak-runs") ?? "1000000";
await script(
  "soak",
  "A long-lived engine: the soak",
  `${
    Number(soakRuns).toLocaleString("en-US")
  } runs of the 5-task diamond on one engine (default retention: the last 1,000 finished runs, at most 100,000 events), ` +
    "one at a time: per-run cost of each tenth (wall time, and the process's CPU time, which the other " +
    "processes of a shared machine disturb less) against the first tenth, and the heap after a forced GC at the " +
    "end of each tenth.",
  ["run", ...perms, "--v8-flags=--expose-gc", "bench/soak.ts", "--runs", soakRuns],
);
/**
 * A section from a CPU profile: runs `target` (deno arguments after the permissions) under `--cpu-prof`, then
 * `summarize` (deno arguments, given the profile's path) over the profile it wrote.
 */
async function profiledSection(
  key: string,
  title: string,
  about: string,
  target: string[],
  summarize: (profile: string) => string[],
): Promise<void> {
  const t0 = performance.now();
  const dir = await Deno.makeTempDir({ prefix: `nerv-${key}-` });
  const profArgs = ["run", ...perms, "--cpu-prof", `--cpu-prof-dir=${dir}`, ...target];
  const section: Section = {
    key,
    title,
    about,
    commands: [show(deno, profArgs).replace(dir, "<dir>")],
    seconds: 0,
    body: "",
    summary: [],
  };
  console.error(`\n[suite] ${key}: ${show(deno, profArgs)}`);
  const o = await run(deno, profArgs, false);
  if (o.code !== 0) section.failed = failure(o);
  else {
    const file = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".cpuprofile"));
    const sumArgs = summarize(`${dir}/${file?.name}`);
    section.commands.push(show(deno, sumArgs).replace(dir, "<dir>"));
    const s = await run(deno, sumArgs);
    const { body, summary } = toMarkdown(s.stdout);
    section.body = body;
    section.summary = summary;
    if (s.code !== 0 || file === undefined) section.failed = failure(s);
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  section.seconds = (performance.now() - t0) / 1000;
  sections.push(section);
}

if (wanted("profile-small")) {
  await profiledSection(
    "profile-small",
    "Where the microseconds of a small run go",
    "A V8 CPU profile of 22,000 runs of the 5-task diamond on one engine (2,000 of them warm-up), " +
      "summarized by `bench/small_profile.ts`: self time per run by what it is spent on (XState actor and " +
      "system creation apart from its transitions; the log's records and fold; the projection store; the run's " +
      "bookkeeping; garbage collection; promise plumbing). A sampled profile with the profiler's overhead: the " +
      "shares are the figures to read.",
    ["bench/small_runs.ts", "--profile-loop", "20000"],
    (profile) => ["run", "--allow-read", "bench/small_profile.ts", profile, "--runs", "22000"],
  );
}

// ---- where the time goes: a CPU profile of the DAG benchmark -----------------------------------------
if (wanted("profile")) {
  await profiledSection(
    "profile",
    "Where the time goes",
    "A V8 CPU profile of the process that runs nerv-flow alone on the 10,000-task layered DAG three times " +
      "(30,000 tasks, plus loading and building the workflows), summarized by `bench/profile_summary.ts`: self " +
      "time by component and by function, its share of all samples, and µs per task. A sampled profile, not a " +
      "minimum: the shares are the figures to read.",
    ["bench/dag_compare.ts", "--sizes", "10000", "--shapes", "layered", "--trials", "3", "--only", "nerv"],
    (profile) => ["run", "--allow-read", "bench/profile_summary.ts", profile, "--tasks", "30000"],
  );
}

// ---- the report ----------------------------------------------------------------------------------------
const seconds = (performance.now() - suiteStart) / 1000;
const machine = await describeMachine();
const report: string[] = [
  "# Benchmark results",
  "",
  `Written by \`deno task bench\` (\`bench/suite.ts${args.length > 0 ? ` ${args.join(" ")}` : ""}\`) on ${
    startedAt.toISOString().slice(0, 16).replace("T", " ")
  } UTC; the whole suite took ${minutes(seconds)}. Do not edit by hand: run it again.`,
  "",
  "Every figure comes from this one run. Each table gives absolute values and, beside them, their ratio (×) to a " +
  "baseline measured in the same run: a hand-written floor, serial execution, the memory store, the smallest " +
  "size, as each table names it. The machine is shared and noisy, so unless a table says otherwise each figure is " +
  `the **minimum of ${trials} run${
    trials === 1 ? "" : "s"
  }** (the least disturbed one), not a mean; the load average below shows how busy ` +
  "it was.",
  "",
  "## Machine",
  "",
  "| | |",
  "| --- | --- |",
  ...machine.map(([k, v]) => `| ${k} | ${v} |`),
  "",
  "## Summary",
  "",
  ...sections.flatMap((s) =>
    s.failed !== undefined ? [`- ${s.title}: **failed** (see below)`] : s.summary.map((line) => `- ${line}`)
  ),
  "",
];
sections.forEach((s, i) => {
  report.push(`## ${i + 1}. ${s.title}`, "", s.about, "", `Ran in ${minutes(s.seconds)}:`, "");
  report.push("```sh", ...s.commands, "```", "");
  if (s.failed !== undefined) report.push(`**Failed**: ${s.failed}`, "");
  if (s.body !== "") report.push(s.body, "");
});
await Deno.writeTextFile(out, report.join("\n").replace(/\n{3,}/g, "\n\n"));
// In the project's Markdown style (aligned tables, wrapped prose), so that `deno fmt --check` passes.
const fmt = await run(deno, ["fmt", "--quiet", out], false);
if (fmt.code !== 0) console.error(`[suite] deno fmt ${out} failed: ${fmt.stderr}`);
const failed = sections.filter((s) => s.failed !== undefined);
console.error(
  `\n[suite] wrote ${out} in ${minutes(seconds)}${
    failed.length > 0 ? `; failed: ${failed.map((s) => s.key).join(", ")}` : ""
  }`,
);
Deno.exit(failed.length > 0 ? 1 : 0);

// ---- helpers --------------------------------------------------------------------------------------

/** The checked-out commit and whether tracked files differ from it, or undefined outside git. */
async function commit(): Promise<string | undefined> {
  const head = await run("git", ["rev-parse", "--short", "HEAD"], false).catch(() => undefined);
  if (head?.code !== 0) return undefined;
  const dirty = await run("git", ["status", "--porcelain", "--untracked-files=no"], false);
  const changed = dirty.stdout.split("\n").filter((l) => l.trim() !== "").length;
  return `${head.stdout.trim()}${changed > 0 ? ` with uncommitted changes to ${changed} files` : ""}`;
}

function loadavg(): string | undefined {
  try {
    return Deno.loadavg().map((l) => l.toFixed(2)).join(", ");
  } catch {
    return undefined; // no --allow-sys
  }
}

function minutes(s: number): string {
  return s < 60 ? `${s.toFixed(0)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** The version deno.lock resolved for an npm package, if any. */
function lockedVersion(name: string): string | undefined {
  try {
    const lock = JSON.parse(Deno.readTextFileSync(`${root}deno.lock`)) as { npm?: Record<string, unknown> };
    const key = Object.keys(lock.npm ?? {}).find((k) => k.startsWith(`${name}@`));
    return key?.slice(name.length + 1).split("_")[0];
  } catch {
    return undefined;
  }
}

async function describeMachine(): Promise<[string, string][]> {
  const rows: [string, string][] = [];
  const read = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return undefined;
    }
  };
  // Deno reads /proc only with --allow-all; without it, `cat` (with --allow-run) reads it.
  const cpuinfo = read("/proc/cpuinfo") ??
    (await run("cat", ["/proc/cpuinfo"], false).then((o) => (o.code === 0 ? o.stdout : undefined)).catch(() =>
      undefined
    ));
  const model = cpuinfo?.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim();
  const mhz = cpuinfo?.match(/^cpu MHz\s*:\s*(.+)$/m)?.[1]?.trim();
  rows.push([
    "CPU",
    model !== undefined
      ? `${model}${mhz !== undefined ? ` (${Number(mhz).toFixed(0)} MHz)` : ""}, ${Deno.build.arch}`
      : `${Deno.build.arch} (/proc/cpuinfo not readable)`,
  ]);
  rows.push(["hardware threads", String(navigator.hardwareConcurrency)]);
  try {
    const mem = Deno.systemMemoryInfo();
    rows.push([
      "memory",
      `${(mem.total / 2 ** 30).toFixed(1)} GiB, ${(mem.available / 2 ** 30).toFixed(1)} GiB available at the end`,
    ]);
  } catch {
    rows.push(["memory", "unknown (no --allow-sys)"]);
  }
  const osRelease = read("/etc/os-release")?.match(/^PRETTY_NAME="?([^"\n]+)"?$/m)?.[1];
  let kernel = "";
  try {
    kernel = `, kernel ${Deno.osRelease()}`;
  } catch { /* no --allow-sys */ }
  rows.push(["OS", `${osRelease ?? Deno.build.os}${kernel} (${Deno.build.target})`]);
  rows.push(["Deno", `${Deno.version.deno} (V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript})`]);
  if (nodeVersions !== undefined) rows.push(["Node (peers)", nodeVersions]);
  const npmPeers = ["p-graph", "comlink", "piscina", "workerpool"].map((n) => `${n} ${lockedVersion(n) ?? "?"}`);
  rows.push(["npm peers (deno.lock)", npmPeers.join(", ")]);
  const loadAtEnd = loadavg();
  if (loadAtStart !== undefined && loadAtEnd !== undefined) {
    rows.push(["load average (1, 5, 15 min)", `${loadAtStart} at the start, ${loadAtEnd} at the end`]);
  }
  rows.push(["date", `${startedAt.toISOString()} (start)`]);
  const commitAtEnd = await commit();
  if (commitAtStart !== undefined) {
    rows.push([
      "commit",
      commitAtEnd === commitAtStart ? commitAtStart : `${commitAtStart} at the start, ${commitAtEnd} at the end`,
    ]);
  }
  return rows;
}
