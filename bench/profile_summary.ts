// Where the time of a run goes: summarizes a V8 CPU profile by component.
//   deno run --cpu-prof --cpu-prof-dir=/tmp/prof bench/dag_compare.ts --sizes 10000 --shapes layered --trials 3 --only nerv
//   deno run --allow-read bench/profile_summary.ts /tmp/prof/*.cpuprofile [--tasks 30000]
// Components: the engine's own files by directory, XState, Immutable.js, GC, and the rest. Each line gives the
// self time in ms, its share of all samples (the baseline: the whole profile) and, given --tasks (the number of
// tasks the profiled process ran), µs per task.

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

const file = Deno.args.find((a, i) => !a.startsWith("--") && Deno.args[i - 1] !== "--tasks");
const tasksRun = Deno.args.includes("--tasks") ? Number(Deno.args[Deno.args.indexOf("--tasks") + 1]) : undefined;
if (file === undefined) {
  console.error("usage: deno run --allow-read bench/profile_summary.ts <file.cpuprofile> [--tasks N]");
  Deno.exit(2);
}
const profile = JSON.parse(await Deno.readTextFile(file)) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const components = new Map<string, number>();
const functions = new Map<string, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i])!;
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  const url = node.callFrame.url;
  const name = node.callFrame.functionName || "(anonymous)";
  let component = "other";
  if (name === "(garbage collector)") component = "garbage collector";
  else if (name === "(idle)" || name === "(program)") component = name;
  else if (url.includes("/xstate/")) component = "xstate";
  else if (url.includes("/immutable/")) component = "immutable.js";
  else if (url.includes("/nanoevents/")) component = "nanoevents";
  else {
    const m = url.match(/\/(src|actors|workers|bench|examples)\/([^/]+)$/);
    if (m) component = `${m[1]}/${m[2]}`;
  }
  components.set(component, (components.get(component) ?? 0) + dt);
  const key = `${name} (${url.split("/").slice(-1)[0]}:${node.callFrame.lineNumber + 1})`;
  functions.set(key, (functions.get(key) ?? 0) + dt);
}
// timeDeltas are in microseconds.
const pct = (v: number) => `${((v / total) * 100).toFixed(1)}%`;
const ms = (v: number) => (v / 1000).toFixed(0);
const perTask = tasksRun === undefined ? () => "" : (v: number) => ` ${(v / tasksRun).toFixed(2)} |`;
const perTaskHead = tasksRun === undefined ? ["", ""] : [" µs/task |", " ---: |"];
console.log(`${ms(total)} ms of samples${tasksRun === undefined ? "" : ` over ${tasksRun} tasks`}\n`);
console.log(`| component | self ms | share of samples |${perTaskHead[0]}\n| --- | ---: | ---: |${perTaskHead[1]}`);
for (const [k, v] of [...components].sort((a, b) => b[1] - a[1])) {
  console.log(`| ${k} | ${ms(v)} | ${pct(v)} |${perTask(v)}`);
}
console.log(`\n| function (self time) | self ms | share |${perTaskHead[0]}\n| --- | ---: | ---: |${perTaskHead[1]}`);
for (const [k, v] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 20)) {
  console.log(`| ${k.replaceAll("|", "\\|")} | ${ms(v)} | ${pct(v)} |${perTask(v)}`);
}
const busy = total - (components.get("(idle)") ?? 0) - (components.get("(program)") ?? 0);
if (tasksRun !== undefined) {
  const top = [...components].filter(([k]) => k !== "(idle)" && k !== "(program)").sort((a, b) => b[1] - a[1]);
  console.log(
    `\nsummary: profile of ${tasksRun} no-op tasks: ${(busy / tasksRun).toFixed(2)} µs/task of JS and GC; top: ${
      top.slice(0, 3).map(([k, v]) => `${k} ${(v / tasksRun).toFixed(2)}`).join(", ")
    } µs/task`,
  );
}
