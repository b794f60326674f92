// The npm worker-pool peers on their own runtime: 100,000 no-op tasks through piscina and workerpool under
// Node, next to a raw worker_threads floor (1,000 tasks per message), as in workers_compare.ts (b).
// `deno task bench` (bench/suite.ts) installs the peers with npm into a temporary directory and runs this:
//   node bench/_node_peers.mjs --dir <directory with node_modules> [--trials 3] [--tasks 100000] [--ours <µs/task>]
// --ours is the nerv-flow pool's µs/task under Deno in the same suite run, for the last column.
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import os from "node:os";
import { pathToFileURL } from "node:url";
import process from "node:process";

const argv = process.argv.slice(2);
const arg = (name, fallback) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : fallback);
const dir = arg("dir", undefined);
if (dir === undefined) {
  console.error("usage: node bench/_node_peers.mjs --dir <directory with node_modules> [--trials 3] [--tasks 100000]");
  process.exit(2);
}
const trials = Number(arg("trials", "3"));
const N = Number(arg("tasks", "100000"));
const ours = arg("ours", undefined) === undefined ? undefined : Number(arg("ours", undefined));
const threads = os.availableParallelism?.() ?? os.cpus().length;

const require = createRequire(join(dir, "package.json"));
const version = (name) => JSON.parse(readFileSync(join(dir, "node_modules", name, "package.json"), "utf8")).version;
const piscinaModule = require("piscina");
const Piscina = piscinaModule.Piscina ?? piscinaModule;
const workerpool = require("workerpool");

// Worker modules beside node_modules, so that their bare imports resolve there.
const piscinaFile = join(dir, "piscina_noop.mjs");
const workerpoolFile = join(dir, "workerpool_noop.mjs");
writeFileSync(piscinaFile, "export default function noop() {\n  return undefined;\n}\n");
writeFileSync(workerpoolFile, 'import workerpool from "workerpool";\nworkerpool.worker({ noop: () => undefined });\n');

const rawSource = `
const { parentPort } = require("node:worker_threads");
parentPort.on("message", (m) => {
  const out = new Array(m.count);
  for (let i = 0; i < m.count; i++) out[i] = undefined;
  parentPort.postMessage({ id: m.id, values: out });
});`;
const raw = Array.from({ length: threads }, () => new Worker(rawSource, { eval: true }));
const rawCall = (w, msg) =>
  new Promise((resolve) => {
    w.once("message", resolve);
    w.postMessage(msg);
  });
await Promise.all(raw.map((w) => rawCall(w, { id: 0, count: 1 })));

const piscina = new Piscina({ filename: pathToFileURL(piscinaFile).href, minThreads: threads, maxThreads: threads });
await Promise.all(Array.from({ length: threads * 4 }, () => piscina.run(null)));
const wpool = workerpool.pool(workerpoolFile, { minWorkers: threads, maxWorkers: threads, workerType: "thread" });
await Promise.all(Array.from({ length: threads * 4 }, () => wpool.exec("noop", [])));

const best = { raw: Infinity, piscina: Infinity, workerpool: Infinity };
for (let t = 0; t < trials; t++) {
  let t0 = performance.now();
  let sent = 0;
  await Promise.all(raw.map(async (w) => {
    while (sent < N) {
      const count = Math.min(1000, N - sent);
      sent += count;
      await rawCall(w, { id: sent, count });
    }
  }));
  best.raw = Math.min(best.raw, performance.now() - t0);

  t0 = performance.now();
  const ps = new Array(N);
  for (let i = 0; i < N; i++) ps[i] = piscina.run(null);
  await Promise.all(ps);
  best.piscina = Math.min(best.piscina, performance.now() - t0);

  t0 = performance.now();
  const ws = new Array(N);
  for (let i = 0; i < N; i++) ws[i] = wpool.exec("noop", []);
  await Promise.all(ws);
  best.workerpool = Math.min(best.workerpool, performance.now() - t0);
}
await Promise.all(raw.map((w) => w.terminate()));
await piscina.destroy();
await wpool.terminate();

const us = (ms) => (ms * 1000) / N;
const x = (a, b) => `${(a / b).toFixed(2)}×`;
const runtime = `Node ${process.versions.node}`;
console.log(
  `${runtime} (V8 ${process.versions.v8}), ${threads} workers each, ${N.toLocaleString("en-US")} no-op tasks, ` +
    `min of ${trials} runs\n`,
);
console.log(
  `| runner | runtime | ms | tasks/s | µs/task | × raw floor (Node) |${
    ours === undefined ? "" : " × nerv-flow pool (Deno) |"
  }`,
);
console.log(`| --- | --- | ---: | ---: | ---: | ---: |${ours === undefined ? "" : " ---: |"}`);
const rows = [
  ["raw worker_threads postMessage, 1,000 per message (floor)", best.raw],
  [`piscina ${version("piscina")}, one \`run\` per task`, best.piscina],
  [`workerpool ${version("workerpool")}, one \`exec\` per task`, best.workerpool],
];
for (const [label, ms] of rows) {
  console.log(
    `| ${label} | ${runtime} | ${ms.toFixed(0)} | ${Math.round(N / (ms / 1000)).toLocaleString("en-US")} | ${
      us(ms).toFixed(2)
    } | ${x(ms, best.raw)} |${ours === undefined ? "" : ` ${x(us(ms), ours)} |`}`,
  );
}
console.log(
  `\nsummary: under ${runtime}: piscina ${us(best.piscina).toFixed(2)} µs/task, workerpool ${
    us(best.workerpool).toFixed(2)
  } µs/task${ours === undefined ? "" : ` (nerv-flow pool under Deno: ${ours.toFixed(2)})`}`,
);
