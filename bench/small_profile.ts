// Where the microseconds of a small run go: summarizes a V8 CPU profile of `bench/small_runs.ts --profile-loop N`
// (N runs of the 5-task diamond on one engine) by what the time is spent on, in µs per run.
//   deno run --allow-read --allow-env --cpu-prof --cpu-prof-dir=/tmp/prof bench/small_runs.ts --profile-loop 20000
//   deno run --allow-read bench/small_profile.ts /tmp/prof/*.cpuprofile --runs 20000
// Self time of each sampled function goes to one category, by its file and name (XState's actor and system
// creation apart from its transitions). A sampled profile, with the profiler's own overhead: read the shares.

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

const file = Deno.args.find((a, i) => !a.startsWith("--") && Deno.args[i - 1] !== "--runs");
const runs = Number(Deno.args.includes("--runs") ? Deno.args[Deno.args.indexOf("--runs") + 1] : NaN);
if (file === undefined || !(runs > 0)) {
  console.error("usage: deno run --allow-read bench/small_profile.ts <file.cpuprofile> --runs N");
  Deno.exit(2);
}
const profile = JSON.parse(await Deno.readTextFile(file)) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((n) => [n.id, n]));

const ACTOR_SETUP =
  /^(createSystem|_register|Actor|createActor|start|_initState|getInitialSnapshot|getInitialState|createMachineSnapshot|_sendInspectionEvent|_set|getSnapshot|resolveReferencedActor|createInitEvent|initialTransition|enterStates|getInitialStateNodes.*|toActorRef|cloneMachineSnapshot)$/;
function category(name: string, url: string): string {
  if (name === "(garbage collector)") return "garbage collection";
  if (name === "(idle)" || name === "(program)") return "idle / runtime (outside JS)";
  if (url.includes("/@xstate/store/") || /\/src\/store\.ts$/.test(url)) return "projection store (@xstate/store)";
  if (url.includes("/xstate/")) {
    return ACTOR_SETUP.test(name) ? "XState: actor system and actor creation" : "XState: transitions and events";
  }
  if (url.includes("/immutable/") || /\/src\/log\//.test(url) || /\/src\/freeze\.ts$/.test(url)) {
    return "log: records, fold, retention (src/log/, Immutable.js)";
  }
  if (/\/actors\//.test(url)) return "task and workflow machines (actors/)";
  if (/\/src\/run\/task_table\.ts$/.test(url) || (name === "Run" && /\/src\/run\.ts$/.test(url))) {
    return "Run constructor (per-task arrays)";
  }
  if (/\/src\/(run\.ts|run\/|result\.ts)/.test(url)) return "run bookkeeping (run.ts, run/, result.ts)";
  if (/\/src\/(engine\.ts|engine\/)/.test(url)) return "engine: start, run API, store sync (engine.ts, engine/)";
  if (/\/src\/(scheduler|bus|clock)\.ts$/.test(url) || /\/workers\//.test(url) || url.includes("/nanoevents/")) {
    return "scheduler, bus, clock, executor";
  }
  if (/\/bench\//.test(url)) return "the benchmark loop";
  return "promise plumbing, timers, runtime (other)";
}

const totals = new Map<string, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i])!;
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  const c = category(node.callFrame.functionName || "(anonymous)", node.callFrame.url);
  totals.set(c, (totals.get(c) ?? 0) + dt);
}
const idle = totals.get("idle / runtime (outside JS)") ?? 0;
console.log(
  `${(total / 1000).toFixed(0)} ms of samples over ${runs.toLocaleString("en-US")} runs of the 5-task diamond; ` +
    `${((total - idle) / runs).toFixed(1)} µs per run outside idle\n`,
);
console.log("| where | µs per run | share of samples |\n| --- | ---: | ---: |");
for (const [k, v] of [...totals].sort((a, b) => b[1] - a[1])) {
  console.log(`| ${k} | ${(v / runs).toFixed(1)} | ${((v / total) * 100).toFixed(1)}% |`);
}
const top = [...totals].filter(([k]) => !k.startsWith("idle")).sort((a, b) => b[1] - a[1]).slice(0, 3);
console.log(
  `\nsummary: profile of a 5-task run: ${((total - idle) / runs).toFixed(1)} µs/run sampled; top: ${
    top.map(([k, v]) => `${k} ${(v / runs).toFixed(1)}`).join(", ")
  } µs/run`,
);
