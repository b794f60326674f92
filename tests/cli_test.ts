import assert from "node:assert/strict";
import { type CliIO, logLines, main, USAGE } from "../adapters/cli.ts";
import { formatMs, formatRate, summaryTable } from "../adapters/_cli_format.ts";
import { openFileLogStore } from "../adapters/mod.ts";
import { createEngine, loadLog, type RunResult } from "../mod.ts";
import { foldRun, type TaskView } from "../extend.ts";
import resumeWorkflow from "./fixtures/cli_resume.ts";

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
  assert.match(USAGE, /--resume <runId>/);
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

/** A task's view without its times: what two runs of the same workflow share. */
const timeless = (tasks: Record<string, TaskView>) =>
  Object.fromEntries(
    Object.entries(tasks).map(([id, { startedAt: _s, endedAt: _e, ...rest }]) => [id, rest]),
  );

/** The run id the CLI printed at the start of a run with --log. */
const runIdOf = (out: string): string => {
  const m = out.match(/^run: (\S+)$/m);
  assert.ok(m, `no "run: <id>" line in:\n${out}`);
  return m[1];
};

Deno.test("cli --log runs on the durable file store: the file holds the run, with the projections of the same run in memory", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-cli-" });
  try {
    const path = `${dir}/runs.log`;
    const { code, out, err } = await cli(fixture("cli_resume.ts"), "--log", path, "--quiet", "--input", '{"n":5}');
    assert.equal(err, "");
    assert.equal(code, 0);
    const runId = runIdOf(out);
    assert.ok(
      out.indexOf(`run: ${runId}`) < out.indexOf("task  "),
      "the run id is printed at the start, before the summary",
    );
    assert.match(out, new RegExp(`--resume ${runId} --log ${path}`));
    assert.match(out, new RegExp(`^log: ${path}$`, "m"));

    // The reference: the same workflow and input, in memory.
    const reference = createEngine();
    const expected = await reference.run(resumeWorkflow, { input: { n: 5 } });
    const expectedTasks = reference.project("tasks", expected.runId);
    const expectedStatus = reference.project("workflowStatus", expected.runId);
    await reference.close();

    const store = await openFileLogStore(path);
    try {
      assert.deepEqual(store.runs(), [runId]);
      const log = await loadLog(store);
      assert.deepEqual(timeless(log.project("tasks", runId)), timeless(expectedTasks));
      assert.deepEqual(log.project("taskStatus", runId), reference.project("taskStatus", expected.runId));
      const status = log.project("workflowStatus", runId);
      assert.equal(status.status, "completed");
      assert.deepEqual(status.counts, expectedStatus.counts);
      assert.deepEqual(log.project("tasks", runId).d.result, { sum: 14 }, "--input overrode the module's input");
      const events = log.events(runId);
      assert.equal(events[0].type, "workflow.created");
      assert.equal(events.at(-1)!.type, "workflow.completed");
      assert.ok(events.every((e, i) => i === 0 || e.seq > events[i - 1].seq), "in seq order");
      assert.equal(foldRun(await store.readRun(runId))?.status, "completed");
    } finally {
      await store.close();
    }

    // A second run is appended to the same file.
    const second = await cli(fixture("cli_resume.ts"), "--log", path, "--quiet");
    assert.equal(second.code, 0);
    const again = await openFileLogStore(path);
    try {
      assert.deepEqual(again.runs(), [runId, runIdOf(second.out)]);
      assert.equal((await loadLog(again)).project("tasks", runIdOf(second.out)).a.result, 21);
    } finally {
      await again.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli --log: on the durable store a result that is not JSON data fails its task", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-cli-" });
  try {
    const { code, out } = await cli(fixture("cli_ok.ts"), "--log", `${dir}/runs.log`, "--quiet");
    assert.equal(code, 1);
    assert.match(out, /^c +failed +1 .*NotSerializableError: .*bigint/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli --log refuses a file that is not a log store (an older CLI's JSON lines) and leaves it as it was; --resume names the runs a log holds", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-cli-" });
  try {
    const path = `${dir}/run.jsonl`;
    const old = logLines([]);
    await Deno.writeTextFile(path, old);
    const refused = await cli(fixture("cli_resume.ts"), "--log", path, "--quiet");
    assert.equal(refused.code, 2);
    assert.match(refused.err, /Cannot use ".*run\.jsonl" as the log: it is not a nerv-flow log store file/);
    assert.equal(await Deno.readTextFile(path), old, "the file is untouched");

    const logPath = `${dir}/runs.log`;
    const ran = await cli(fixture("cli_resume.ts"), "--log", logPath, "--quiet");
    assert.equal(ran.code, 0);
    const unknown = await cli(fixture("cli_resume.ts"), "--log", logPath, "--resume", "nope");
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.err,
      new RegExp(`Cannot resume run "nope": the log ".*" has no such run \\(it holds "${runIdOf(ran.out)}"\\)`),
    );
    const wrong = await cli(fixture("cli_ok.ts"), "--log", logPath, "--resume", runIdOf(ran.out));
    assert.equal(wrong.code, 2);
    assert.match(wrong.err, /Cannot resume run ".*" from ".*": .*started by workflow "cli-resume"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Task, pid and attempt of each marker file. */
function markersOf(dir: string): { task: string; pid: number; attempt: number }[] {
  return [...Deno.readDirSync(dir)].map((e) => {
    const [task, pid, attempt] = e.name.split(".");
    return { task, pid: Number(pid), attempt: Number(attempt) };
  });
}

Deno.test("cli --resume finishes a run whose process was killed (SIGKILL) mid-run; completed tasks do not run again", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-cli-" });
  const path = `${dir}/runs.log`;
  const markers = `${dir}/markers`;
  await Deno.mkdir(markers);
  const decoder = new TextDecoder();
  const program = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write=/tmp", "--allow-env", CLI, fixture("cli_resume.ts"), ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    });
  try {
    // 1. The run, killed while `slow` runs (a and b completed, and stored: slow starts only after).
    const child = program("--log", path, "--plain", "--input", JSON.stringify({ n: 4, markers })).spawn();
    let out = "";
    let errText = "";
    const drained = Promise.all([
      child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({ write: (t) => void (out += t) })),
      child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({ write: (t) => void (errText += t) }),
      ),
    ]);
    const deadline = Date.now() + 30_000;
    while (!markersOf(markers).some((m) => m.task === "slow" && m.pid === child.pid)) {
      assert.ok(Date.now() < deadline, `slow never started; stdout:\n${out}\nstderr:\n${errText}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill("SIGKILL");
    const killed = await child.status;
    await drained;
    assert.equal(killed.signal, "SIGKILL", `the child ended before it was killed:\n${out}\n${errText}`);
    const runId = runIdOf(out);
    assert.doesNotMatch(out, /cli-resume completed/);

    // What the file held as completed when the process died.
    const store = await openFileLogStore(path, { onRecover: () => {} });
    const state = foldRun(await store.readRun(runId));
    await store.close();
    assert.ok(state !== undefined);
    const completedAtKill = new Set(state.taskIds.filter((_, k) => state.tasks[k]?.status === "completed"));
    assert.ok(completedAtKill.has("a") && completedAtKill.has("b"), `completed at the kill: ${[...completedAtKill]}`);
    assert.ok(!completedAtKill.has("slow") && !completedAtKill.has("d"));

    // 2. --resume, as a program.
    const resumer = program("--log", path, "--resume", runId, "--plain").spawn();
    const resumed = await resumer.output();
    const text = decoder.decode(resumed.stdout);
    assert.equal(resumed.code, 0, `${text}\n${decoder.decode(resumed.stderr)}`);
    assert.match(text, new RegExp(`^resuming run ${runId} from ${path}$`, "m"));
    assert.match(text, new RegExp(`resumed +cli-resume \\(run ${runId}\\): ${completedAtKill.size} completed kept`));
    assert.match(text, /completed slow in/);
    assert.match(text, /^cli-resume completed in .*: 5 completed/m);

    // The file: the run completed, with the results of an uninterrupted run (its input kept).
    const after = await openFileLogStore(path);
    try {
      assert.deepEqual(after.runs(), [runId]);
      const tasks = (await loadLog(after)).project("tasks", runId);
      assert.deepEqual(
        Object.fromEntries(Object.entries(tasks).map(([id, t]) => [id, [t.status, t.result]])),
        {
          a: ["completed", 4],
          b: ["completed", 8],
          c: ["completed", { label: "c", list: [1, 2, 3] }],
          slow: ["completed", 9],
          d: ["completed", { sum: 12 }],
        },
      );
    } finally {
      await after.close();
    }

    // The markers: no task the log had as completed ran again; slow and d ran in the resuming process.
    const marks = markersOf(markers);
    for (const m of marks.filter((m) => m.pid === resumer.pid)) {
      assert.ok(!completedAtKill.has(m.task), `task ${m.task} was completed in the log, yet ran again`);
    }
    assert.ok(marks.some((m) => m.task === "slow" && m.pid === child.pid));
    assert.ok(marks.some((m) => m.task === "slow" && m.pid === resumer.pid));
    assert.deepEqual(marks.filter((m) => m.task === "d").map((m) => m.pid), [resumer.pid]);
    for (const id of ["a", "b", "c", "slow", "d"]) assert.ok(marks.some((m) => m.task === id), `${id} never ran`);

    // 3. Resuming the ended run shows its stored result and runs nothing.
    const ended = await cli(fixture("cli_resume.ts"), "--log", path, "--resume", runId, "--quiet");
    assert.equal(ended.code, 0);
    assert.match(ended.out, new RegExp(`run ${runId} had already ended \\(completed\\); nothing ran again`));
    assert.match(ended.out, /^cli-resume completed/m);
    assert.equal(markersOf(markers).length, marks.length, "no task body ran");
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
      ["--log", "/tmp/nerv-no-such-dir/x.log", "--quiet", fixture("cli_ok.ts")],
      /Cannot open the log "\/tmp\/nerv-no-such-dir\/x.log"/,
    ],
    ["--resume without --log", ["--resume", "r1", fixture("cli_ok.ts")], /--resume needs --log <file>/],
    [
      "--resume with --input",
      ["--resume", "r1", "--log", "/tmp/x.log", "--input", "{}", fixture("cli_ok.ts")],
      /--input cannot be used with --resume/,
    ],
    [
      "--resume of a missing log",
      ["--resume", "r1", "--log", "/tmp/nerv-no-such-log.log", fixture("cli_ok.ts")],
      /Cannot resume: there is no log "\/tmp\/nerv-no-such-log.log"/,
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

Deno.test("cli --plain whose stdout is closed early (| head -1) ends its output quietly; the run goes on and its outcome is the exit code", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-cli-" });
  const path = `${dir}/runs.log`;
  const gate = `${dir}/gate`;
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write=/tmp",
        "--allow-env",
        CLI,
        fixture("cli_chain.ts"),
        "--plain",
        "--log",
        path,
        "--input",
        JSON.stringify({ gate }),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const stderr = new Response(child.stderr).text();
    // Like `head -1`: read the first line, then close the pipe, while the run waits at step1.
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      first += value;
    }
    await reader.cancel();
    await Deno.writeTextFile(gate, "");
    const status = await child.status;
    const err = await stderr;
    assert.match(first, /^run: /);
    assert.doesNotMatch(err, /BrokenPipe|Uncaught|unsafe-proto/, err);
    assert.equal(status.code, 0, err);
    // The run went on to its end after the pipe closed.
    const runId = first.slice("run: ".length, first.indexOf("\n"));
    const store = await openFileLogStore(path);
    try {
      const state = foldRun(await store.readRun(runId));
      assert.equal(state?.status, "completed");
      assert.equal(state?.tasks.filter((t) => t?.status === "completed").length, 40);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli --graph mermaid warns when stock Mermaid could not draw every edge; --collapse level draws one node per level", async () => {
  const full = await cli(fixture("cli_big.ts"), "--graph", "mermaid");
  assert.equal(full.code, 0);
  assert.match(full.err, /^warning: 931 edges; stock Mermaid draws at most 500: add --collapse level/);
  assert.equal(full.out.split("\n").filter((l) => l.includes(" --> ")).length, 931);
  const small = await cli(fixture("cli_big.ts"), "--graph", "mermaid", "--collapse", "level");
  assert.equal(small.code, 0);
  assert.equal(small.err, "");
  assert.equal(small.out.split("\n").filter((l) => /^ {2}L\d+\["level/.test(l)).length, 20);
  assert.match(
    (await cli(fixture("cli_big.ts"), "--graph", "dot", "--collapse", "auto")).out,
    /"level 0" -> "level 1"/,
  );
  assert.equal((await cli(fixture("cli_ok.ts"), "--graph", "mermaid")).err, "");
  const bad = await cli(fixture("cli_big.ts"), "--graph", "mermaid", "--collapse", "fanout");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--collapse "fanout" must be "none", "level" or "auto"/);
  assert.equal((await cli(fixture("cli_big.ts"), "--collapse", "level")).code, 2);
});

Deno.test("cli --log on a log another store holds exits 2 and names the holder", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-cli-" });
  const path = `${dir}/runs.log`;
  const holder = await openFileLogStore(path);
  try {
    const { code, out, err } = await cli(fixture("cli_ok.ts"), "--log", path);
    assert.equal(code, 2);
    assert.equal(out, "");
    assert.match(err, new RegExp(`^Cannot open log ".*runs\\.log": another writer holds it \\(pid ${Deno.pid} on `));
  } finally {
    await holder.close();
    await Deno.remove(dir, { recursive: true });
  }
});
