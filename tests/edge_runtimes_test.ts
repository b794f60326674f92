/**
 * The engine, bundled (`deno bundle --platform browser`), in real edge
 * runtimes: Cloudflare's workerd (npm `workerd`, a module worker) and
 * Vercel's edge runtime (npm `edge-runtime` under Node, a script that listens
 * for `fetch`). Each serves `fixtures/edge/app.ts`, whose engine is made at
 * module scope: every engine check passes there, concurrent requests share
 * the engine, and the same app with one hazard module loaded first (a
 * module-scope `Deno.*`, `import.meta.url`, timer, random value or `eval`)
 * does not start, so a hazard in the engine's own modules would fail here.
 * The runtimes are installed by `.ci/run` (or here, when missing); the tests
 * skip, saying why, only when one cannot be installed.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  bundle,
  findRuntime,
  fixture,
  type Found,
  type Hazard,
  hazardEntry,
  type Served,
  serveEdgeRuntime,
  serveWorkerd,
} from "./_edge.ts";

interface Checks {
  facts: Record<string, string>;
  checks: { name: string; ok: boolean; error?: string }[];
}

/** The engine checks every runtime must pass (names from `fixtures/edge/app.ts`). */
const CHECKS = [
  "a workflow runs, with a retry",
  "the README's defineTasks(import.meta.url, …) runs inline on a worker profile",
  "a failure skips its dependents and fails the run",
  "projections, at(seq) and replay",
  "cancellation aborts a running task",
  "the virtual clock runs a day of retries at once",
  "the cache serves a hit (keys hashed with crypto.subtle)",
  "spawn, map and subworkflows",
];

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${url}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Every engine check passed, in a runtime without `Worker`, `Deno` and `import.meta.url`. */
async function checkApp(served: Served): Promise<void> {
  const { facts, checks } = await getJson<Checks>(`${served.url}/checks`);
  assert.deepEqual(facts, { importMetaUrl: "undefined", Worker: "undefined", Deno: "undefined" });
  assert.deepEqual(checks.map((c) => c.name), CHECKS);
  const failed = checks.filter((c) => !c.ok);
  assert.deepEqual(failed, [], `checks failed:\n${failed.map((c) => `${c.name}: ${c.error}`).join("\n")}`);
  // Concurrent requests run on the one engine made when the module loaded.
  const runs = await Promise.all(
    Array.from(
      { length: 12 },
      (_, n) => getJson<{ runId: string; status: string; sum: number }>(`${served.url}/run?n=${n}`),
    ),
  );
  runs.forEach((r, n) => {
    assert.equal(r.status, "completed", `run ${n}`);
    assert.equal(r.sum, n * n + n + 2, `run ${n}: sum`);
  });
  assert.equal(new Set(runs.map((r) => r.runId)).size, runs.length, "each run has its own id");
}

/** The app with a hazard loaded first does not start, and the runtime says why. */
async function checkHazard(
  start: (bundlePath: string) => Promise<Served>,
  dir: string,
  hazard: Hazard,
  main: string,
  format: "esm" | "iife",
  expected: RegExp,
): Promise<void> {
  const out = `${dir}/${hazard}_${format}.js`;
  await bundle(await hazardEntry(dir, hazard, main, format === "esm"), out, format);
  const served = await start(out);
  try {
    assert.equal(served.url, undefined, `the app with the ${hazard} hazard started:\n${served.output()}`);
    assert.match(served.output(), expected);
  } finally {
    await served.stop();
  }
}

function skipMessage(name: string, found: Found): void {
  if (found.skip !== undefined) console.warn(`${name} tests skipped: ${found.skip}`);
}

const workerd = await findRuntime("workerd");
skipMessage("workerd", workerd);

Deno.test({
  name: "workerd: the bundled engine, made at module scope, passes every check and serves concurrent requests",
  ignore: workerd.skip !== undefined,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "nerv-edge-workerd-" });
    try {
      await bundle(fixture("workerd_main.ts"), `${dir}/app.js`, "esm");
      const served = await serveWorkerd(workerd.path!, `${dir}/app.js`, dir);
      try {
        assert.ok(served.url !== undefined, `workerd did not start:\n${served.output()}`);
        await checkApp(served);
      } finally {
        await served.stop();
      }
      assert.doesNotMatch(served.output(), /Uncaught|Disallowed/, "no error was logged");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "workerd: a module-scope Deno.*, import.meta.url, timer or random value stops the worker from starting",
  ignore: workerd.skip !== undefined,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "nerv-edge-workerd-" });
    try {
      const start = (path: string) => serveWorkerd(workerd.path!, path, dir);
      const main = "workerd_main.ts";
      await checkHazard(start, dir, "deno", main, "esm", /Uncaught ReferenceError: Deno is not defined/);
      await checkHazard(start, dir, "import_meta", main, "esm", /Uncaught TypeError: Invalid URL/);
      await checkHazard(start, dir, "timer", main, "esm", /Disallowed operation called within global scope/);
      await checkHazard(start, dir, "random", main, "esm", /Disallowed operation called within global scope/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const edgeRuntime = await findRuntime("edge-runtime");
skipMessage("edge-runtime", edgeRuntime);

Deno.test({
  name: "edge-runtime: the bundled engine, made at module scope, passes every check and serves concurrent requests",
  ignore: edgeRuntime.skip !== undefined,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "nerv-edge-vercel-" });
    try {
      await bundle(fixture("vercel_main.ts"), `${dir}/app.js`, "iife");
      const served = await serveEdgeRuntime(edgeRuntime.path!, `${dir}/app.js`);
      try {
        assert.ok(served.url !== undefined, `edge-runtime did not start:\n${served.output()}`);
        await checkApp(served);
      } finally {
        await served.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "edge-runtime: a module-scope Deno.*, import.meta.url or code from a string stops the script from loading",
  ignore: edgeRuntime.skip !== undefined,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "nerv-edge-vercel-" });
    try {
      const start = (path: string) => serveEdgeRuntime(edgeRuntime.path!, path);
      const main = "vercel_main.ts";
      await checkHazard(start, dir, "deno", main, "iife", /ReferenceError: Deno is not defined/);
      await checkHazard(start, dir, "import_meta", main, "iife", /TypeError: Invalid URL/);
      await checkHazard(start, dir, "eval", main, "iife", /Code generation from strings disallowed/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
