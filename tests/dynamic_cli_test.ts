/**
 * `--rerun <runId>`: the CLI, run as a program on the file log store,
 * re-executes a failed run from failure in a new process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { openFileLogStore } from "../adapters/mod.ts";
import { type AnyFlowEvent, foldRun } from "../extend.ts";

const CLI = new URL("../adapters/cli.ts", import.meta.url).pathname;
const FIXTURE = new URL("./fixtures/cli_rerun.ts", import.meta.url).pathname;

function cli(...args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--allow-write=/tmp", CLI, FIXTURE, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
}

Deno.test("cli --rerun re-executes a failed run from failure in a new process, keeping completed tasks", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-cli-rerun-" });
  try {
    const path = `${dir}/runs.log`;
    Deno.writeTextFileSync(`${dir}/broken`, "");
    const first = await cli("--log", path, "--quiet", "--input", JSON.stringify({ dir }));
    const out1 = new TextDecoder().decode(first.stdout);
    assert.equal(first.code, 1, new TextDecoder().decode(first.stderr));
    const oldId = /^run: (\S+)$/m.exec(out1)![1];
    Deno.removeSync(`${dir}/broken`);

    const usage = await cli("--rerun", oldId, "--quiet");
    assert.equal(usage.code, 2);
    assert.match(new TextDecoder().decode(usage.stderr), /--rerun needs --log/);
    const unknown = await cli("--log", path, "--rerun", "nope", "--quiet");
    assert.equal(unknown.code, 2);
    assert.match(new TextDecoder().decode(unknown.stderr), /Cannot re-run run "nope": the log .* has no such run/);

    const second = await cli("--log", path, "--rerun", oldId, "--quiet");
    const out2 = new TextDecoder().decode(second.stdout);
    assert.equal(second.code, 0, new TextDecoder().decode(second.stderr));
    assert.match(out2, new RegExp(`re-running run ${oldId} from failure`));
    const newId = /^run: (\S+)$/m.exec(out2)![1];
    assert.notEqual(newId, oldId);

    // Who ran where: "a" only in the first process; "flaky" in both; "after" only in the second.
    const marks = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /\.\d+$/.test(n));
    const pids = (task: string) => new Set(marks.filter((n) => n.startsWith(`${task}.`)).map((n) => n.split(".")[1]));
    assert.equal(pids("a").size, 1);
    assert.equal(pids("flaky").size, 2);
    assert.equal(pids("after").size, 1);
    assert.ok(!pids("a").has([...pids("after")][0]), "a did not run again in the re-run's process");

    const store = await openFileLogStore(path);
    try {
      const events = await store.read(newId);
      const created = events[0] as AnyFlowEvent & { type: "workflow.created" };
      assert.equal(created.type, "workflow.created");
      assert.equal(created.data.rerunOf, oldId);
      const state = foldRun(await store.readRun(newId))!;
      assert.equal(state.status, "completed");
      assert.deepEqual(state.input, { dir });
      assert.equal(foldRun(await store.readRun(oldId))!.status, "failed", "the old run is left as it was");
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
