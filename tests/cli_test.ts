import assert from "node:assert/strict";
import { type CliIO, logLines, main, USAGE } from "../adapters/cli.ts";
import { formatMs, formatRate, summaryTable } from "../adapters/_cli_format.ts";
import type { RunResult } from "../mod.ts";

const CLI = new URL("../adapters/cli.ts", import.meta.url).pathname;
const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

/** Runs `main()` in this process with captured output. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: CliIO = { out: (t) => out += t, err: (t) => err += t, isTerminal: false };
  const code = await main(args, io);
  return { code, out, err };
}

Deno.test("cli --help prints the usage and exits 0", async () => {
  const { code, out } = await cli("--help");
  assert.equal(code, 0);
  assert.equal(out, `${USAGE}\n`);
  assert.match(USAGE, /--graph <mermaid\|dot>/);
  assert.match(USAGE, /--log <file>/);
  assert.match(USAGE, /--dashboard/);
});

Deno.test("cli runs a module's default workflow with its input, prints plain lines and a summary, exits 0", async () => {
  const { code, out, err } = await cli(fixture("cli_ok.ts"));
  assert.equal(err, "");
  assert.equal(code, 0);
  assert.match(out, /started +cli-ok \(run /);
  for (const id of ["a", "b", "c"]) assert.match(out, new RegExp(`completed ${id} in \\d+ ms`));
  assert.match(out, /^task +status +attempts +duration +error$/m);
  assert.match(out, /^a +completed +1 +\d+ ms$/m);
  assert.match(out, /^cli-ok completed in \d+ ms: 3 completed \(/m);
});

Deno.test("cli exits 1 for a failed run and lists the failure first, then retries and skips", async () => {
  const { code, out } = await cli(fixture("cli_fail.ts"), "--rows", "3");
  assert.equal(code, 1);
  assert.match(out, /retrying +flaky after attempt 1: once/);
  assert.match(out, /failed +boom: boom went the task/);
  assert.match(out, /skipped +after: boom failed/);
  const table = out.slice(out.indexOf("task  "));
  const rows = table.split("\n").slice(2, 5).map((l) => l.split(/\s+/)[0]);
  assert.deepEqual(rows, ["boom", "flaky", "ok"], "failed first, then the slowest");
  assert.match(table, /^boom +failed +1 +\d+ ms +RangeError: boom went the task$/m);
  assert.match(table, /^… 1 more \(1 skipped\)$/m);
  assert.match(table, /^cli-fail failed in .*: 2 completed, 1 failed, 1 skipped/m);
  assert.match(table, /^error: Task "boom" failed after 1 attempt: boom went the task$/m);
});

Deno.test("cli runs a workflow made by another copy of nerv-flow, validating it again", async () => {
  const { code, out } = await cli(fixture("cli_copy.ts"), "--quiet");
  assert.equal(code, 0);
  assert.match(out, /^cli-copy completed/m);
});

Deno.test("cli --quiet prints only the summary", async () => {
  const { code, out } = await cli(fixture("cli_ok.ts"), "--quiet");
  assert.equal(code, 0);
  assert.doesNotMatch(out, /started/);
  assert.match(out, /cli-ok completed/);
});

Deno.test("cli --log writes the run's events as JSON lines; --input overrides the module's input", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-cli-" });
  try {
    const path = `${dir}/run.jsonl`;
    const { code, out } = await cli(fixture("cli_ok.ts"), "--log", path, "--quiet", "--input", '{"n":5}');
    assert.equal(code, 0);
    assert.match(out, new RegExp(`log: ${path}`));
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines[0], { format: "nerv-flow/log", version: 1 });
    const events = lines.slice(1);
    assert.equal(events[0].type, "workflow.created");
    assert.equal(events.at(-1).type, "workflow.completed");
    assert.ok(events.every((e, i) => i === 0 || e.seq > events[i - 1].seq), "in seq order");
    const c = events.find((e) => e.type === "task.completed" && e.taskId === "c");
    assert.equal(c.data.result, "50n", "a BigInt result is written as a string");
    assert.equal(events.find((e) => e.type === "task.completed" && e.taskId === "a").data.result, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli --graph prints Mermaid or DOT without running", async () => {
  const mermaid = await cli(fixture("cli_fail.ts"), "--graph", "mermaid");
  assert.equal(mermaid.code, 0);
  assert.match(mermaid.out, /^flowchart LR\n/);
  assert.match(mermaid.out, /t2 --> t3/);
  assert.doesNotMatch(mermaid.out, /started|completed/);
  const dot = await cli(fixture("cli_ok.ts"), "--graph", "dot");
  assert.match(dot.out, /^digraph "cli-ok" \{/);
  assert.match(dot.out, /"a" -> "b";/);
});

Deno.test("cli exits 2 on usage and loading errors, naming the problem", async (t) => {
  const cases: [string, string[], RegExp][] = [
    ["no module", [], /Expected one workflow module/],
    ["unknown option", ["--bogus", "x.ts"], /Unknown option '--bogus'/],
    ["bad --graph", ["--graph", "svg", fixture("cli_ok.ts")], /--graph "svg" must be "mermaid" or "dot"/],
    ["bad --rows", ["--rows", "some", fixture("cli_ok.ts")], /--rows "some"/],
    [
      "unwritable --log",
      ["--log", "/tmp/nerv-no-such-dir/x.jsonl", "--quiet", fixture("cli_ok.ts")],
      /Cannot write the log/,
    ],
    ["bad --input", ["--input", "{", fixture("cli_ok.ts")], /--input is not valid JSON/],
    ["missing module", ["/tmp/nerv-no-such-module.ts"], /Cannot load workflow module/],
    ["no workflow export", [fixture("cli_none.ts")], /exports no workflow/],
  ];
  for (const [name, args, message] of cases) {
    await t.step(name, async () => {
      const { code, err } = await cli(...args);
      assert.equal(code, 2);
      assert.match(err, message);
    });
  }
});

Deno.test("cli --dashboard serves the page on 127.0.0.1 during the run", async () => {
  const { code, out } = await cli(fixture("cli_ok.ts"), "--dashboard", "--quiet");
  assert.equal(code, 0);
  assert.match(out, /^dashboard: http:\/\/127\.0\.0\.1:\d+\/$/m);
});

Deno.test("the cli runs as a program: plain lines when stdout is not a terminal, exit code of the run", async () => {
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-env", CLI, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
  const ok = await run(fixture("cli_ok.ts"));
  const text = new TextDecoder().decode(ok.stdout);
  assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
  assert.match(text, /completed a in/);
  assert.ok(!text.includes("\x1b["), "no terminal escapes in plain mode");
  const failed = await run(fixture("cli_fail.ts"));
  assert.equal(failed.code, 1);
});

Deno.test("formatMs() and formatRate() read well", () => {
  assert.equal(formatMs(12.4), "12 ms");
  assert.equal(formatMs(1234), "1.23 s");
  assert.equal(formatMs(12_345), "12.3 s");
  assert.equal(formatMs(125_000), "2 m 05 s");
  assert.equal(formatRate(0, 100), "0");
  assert.equal(formatRate(5, 1000), "5.0");
  assert.equal(formatRate(1000, 1000), "1000");
});

Deno.test("summaryTable() keeps at most `rows` task rows and sums the rest", () => {
  const tasks: RunResult["tasks"] = {};
  for (let i = 0; i < 50; i++) tasks[`t${i}`] = { status: "completed", attempts: 1, durationMs: i };
  const result: RunResult = {
    runId: "r",
    workflowId: "w",
    status: "completed",
    tasks,
    startedAt: 0,
    completedAt: 500,
    durationMs: 500,
  };
  const lines = summaryTable(result, 5).split("\n");
  assert.equal(lines.length, 2 + 5 + 1 + 2);
  assert.match(lines[2], /^t49 /, "slowest first");
  assert.equal(lines[7], "… 45 more (45 completed)");
  assert.equal(lines[9], "w completed in 500 ms: 50 completed (100 tasks/s, run r)");
});

Deno.test("logLines() writes a header and one event per line", () => {
  const text = logLines([{
    type: "task.completed",
    seq: 1,
    runId: "r",
    workflowId: "w",
    taskId: "a",
    attempt: 1,
    timestamp: 0,
    data: { result: 1n, durationMs: 0 },
  }]);
  assert.equal(
    text,
    '{"format":"nerv-flow/log","version":1}\n' +
      '{"type":"task.completed","seq":1,"runId":"r","workflowId":"w","taskId":"a","attempt":1,"timestamp":0,' +
      '"data":{"result":"1n","durationMs":0}}\n',
  );
});
