/**
 * The no-`Worker` path (edge runtimes): runs `fixtures/edge_contract.ts` in
 * a `deno test` subprocess whose first import deletes `globalThis.Worker`;
 * that file runs the inline executor contract on worker-profile tasks and
 * checks the bus's one `executor.inline` notice.
 *
 * @module
 */
import assert from "node:assert/strict";

const EDGE_TESTS = new URL("./fixtures/edge_contract.ts", import.meta.url);
const ROOT = new URL("../", import.meta.url);

Deno.test("without Worker, worker tasks run inline under the same contract, and the bus says so once", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-read", "--allow-env", EDGE_TESTS.pathname],
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `the edge test run failed:\n${stdout}\n${stderr}`);
  const line = (name: string) => new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\.\\.\\. ok`, "m");
  assert.match(stdout, line("this runtime has no Worker, and a worker pool cannot be created"));
  assert.match(stdout, line("the bus announces the inline fallback once per engine, naming the profiles"));
  assert.match(stdout, line("no Worker, cpu tasks: results and dependency results reach dependents intact"));
  assert.match(stdout, line("no Worker, cpu tasks: task bodies run on the main thread"));
  const summary = stdout.match(/^ok \| (\d+) passed \| 0 failed(?: \| (\d+) ignored)?/m);
  assert.ok(summary !== null, `no summary in:\n${stdout}`);
  assert.ok(Number(summary[1]) >= 20, `only ${summary[1]} edge tests passed`);
  assert.equal(summary[2], "4", "the two spin cases per contract are ignored, with their reason");
});
