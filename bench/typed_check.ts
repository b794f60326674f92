// What typed workflows cost the type checker: `deno check` of a generated N-task workflow written with `flow()`
// (one chain of N `.task()` calls, each task reading up to 3 earlier results through typed `deps`) against the same
// workflow in the object form (`defineWorkflow`, results read as `unknown` and converted), and against a file that
// only imports the package (the fixed cost both pay). Every check gets a fresh file name, so Deno's check cache never
// skips one; each figure is the minimum of `--trials` checks, taken in turns.
// CPU time (user + system of the check, from the shell's `times`) is the figure to read on a loaded machine; wall
// time is given beside it.
// Usage: deno run --allow-read --allow-write --allow-run --allow-env --allow-sys=loadavg bench/typed_check.ts [--tasks 200] [--trials 3]
//   (--write <dir> writes the three sources there instead, to check them by hand)
import { prng } from "./_dags.ts";

const args = parseArgs(Deno.args);
const n = Number(args.tasks ?? 200);
const trials = Number(args.trials ?? 3);
const mod = new URL("../mod.ts", import.meta.url).href;

/** Up to 3 dependencies among the earlier tasks, the same for both forms. */
function dependencies(): number[][] {
  const random = prng(7);
  const deps: number[][] = [];
  for (let i = 0; i < n; i++) {
    const set = new Set<number>();
    for (let k = 0; k < Math.min(i, 3); k++) set.add(Math.floor(random() * i));
    deps.push([...set].sort((a, b) => a - b));
  }
  return deps;
}

function typedSource(deps: number[][]): string {
  const lines = [
    `import { createEngine, flow } from "${mod}";`,
    `export const workflow = flow<{ base: number }>("typed")`,
  ];
  for (let i = 0; i < n; i++) {
    if (deps[i].length === 0) lines.push(`  .task("t${i}", ({ input }) => input.base + ${i})`);
    else {
      const ids = deps[i].map((d) => `"t${d}"`).join(", ");
      const sum = deps[i].map((d) => `deps.t${d}`).join(" + ");
      lines.push(`  .task("t${i}", { dependsOn: [${ids}], run: ({ deps }) => ${sum} })`);
    }
  }
  lines.push("  .build();");
  lines.push("const engine = createEngine();");
  lines.push("const result = await engine.run(workflow, { input: { base: 1 } });");
  lines.push(`export const last: number | undefined = result.tasks.t${n - 1}.result;`);
  return lines.join("\n") + "\n";
}

function untypedSource(deps: number[][]): string {
  const lines = [
    `import { createEngine, defineWorkflow } from "${mod}";`,
    `export const workflow = defineWorkflow<{ base: number }>({ name: "untyped", tasks: [`,
  ];
  for (let i = 0; i < n; i++) {
    if (deps[i].length === 0) lines.push(`  { id: "t${i}", run: ({ input }) => input.base + ${i} },`);
    else {
      const ids = deps[i].map((d) => `"t${d}"`).join(", ");
      const sum = deps[i].map((d) => `Number(deps.t${d})`).join(" + ");
      lines.push(`  { id: "t${i}", dependsOn: [${ids}], run: ({ deps }) => ${sum} },`);
    }
  }
  lines.push("] });");
  lines.push("const engine = createEngine();");
  lines.push("const result = await engine.run(workflow, { input: { base: 1 } });");
  lines.push(`export const last: number = Number(result.tasks.t${n - 1}.result);`);
  return lines.join("\n") + "\n";
}

const baseSource = `import { createEngine } from "${mod}";\nexport const engine = createEngine();\n`;

if (args.write !== undefined) {
  // Writes the three sources to a directory, to check them by hand.
  const deps = dependencies();
  await Deno.mkdir(args.write, { recursive: true });
  await Deno.writeTextFile(`${args.write}/base.ts`, baseSource);
  await Deno.writeTextFile(`${args.write}/untyped.ts`, untypedSource(deps));
  await Deno.writeTextFile(`${args.write}/typed.ts`, typedSource(deps));
  Deno.exit(0);
}

const dir = await Deno.makeTempDir({ prefix: "nerv-typed-check-" });
let serial = 0;
/** One `deno check` of a fresh copy of `source`: wall time and the CPU time (user + system) of the check, in ms. */
async function check(kind: string, source: string): Promise<{ wall: number; cpu: number }> {
  // A new name and a unique comment each time: Deno's check cache keys on the module graph.
  const file = `${dir}/${kind}_${++serial}.ts`;
  await Deno.writeTextFile(file, `// ${kind} #${serial} ${crypto.randomUUID()}\n${source}`);
  // The shell's `times` reports the CPU time of its children: the check alone, whatever else loads the machine.
  const script = `"${Deno.execPath()}" check --quiet "${file}" || exit 1; times`;
  const t0 = performance.now();
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped", stderr: "piped" }).output();
  const wall = performance.now() - t0;
  if (!out.success) throw new Error(`deno check ${kind} failed:\n${new TextDecoder().decode(out.stderr)}`);
  const children = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
  const [user, sys] = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { wall, cpu: (user + sys) * 1000 };
}

const deps = dependencies();
const sources = { base: baseSource, untyped: untypedSource(deps), typed: typedSource(deps) };
const kinds = ["base", "untyped", "typed"] as const;
const best = {
  base: { wall: Infinity, cpu: Infinity },
  untyped: { wall: Infinity, cpu: Infinity },
  typed: { wall: Infinity, cpu: Infinity },
};
await check("warmup", baseSource);
for (let t = 0; t < trials; t++) {
  for (const kind of kinds) {
    const { wall, cpu } = await check(kind, sources[kind]);
    best[kind].wall = Math.min(best[kind].wall, wall);
    best[kind].cpu = Math.min(best[kind].cpu, cpu);
  }
}
await Deno.remove(dir, { recursive: true });

const s = (ms: number) => (ms / 1000).toFixed(2);
const load = Deno.loadavg().map((x) => x.toFixed(2)).join(", ");
console.log(
  `Deno ${Deno.version.deno}, TypeScript ${Deno.version.typescript}; min of ${trials} checks each; load ${load}`,
);
console.log(
  `\n| \`deno check\` of | CPU s | CPU s − import only | CPU × object form | wall s | wall s − import only |`,
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
const labels = {
  base: "importing the package only",
  untyped: `${n}-task workflow, object form`,
  typed: `${n}-task workflow, \`flow()\``,
};
for (const kind of kinds) {
  const b = best[kind];
  console.log(
    `| ${labels[kind]} | ${s(b.cpu)} | ${s(b.cpu - best.base.cpu)} | ${(b.cpu / best.untyped.cpu).toFixed(2)}× | ${
      s(b.wall)
    } | ${s(b.wall - best.base.wall)} |`,
  );
}
console.log(
  `\nsummary: type-checking a ${n}-task typed workflow: ${s(best.typed.cpu - best.untyped.cpu)} s of CPU more than ` +
    `the object form (${s(best.typed.cpu)} s against ${s(best.untyped.cpu)} s; wall ${s(best.typed.wall)} s against ` +
    `${s(best.untyped.wall)} s)`,
);

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) out[argv[i].slice(2)] = argv[i + 1] ?? "";
  }
  return out;
}
