import assert from "node:assert/strict";
import { createEngine, defineWorkflow, STATUS_COLORS, type TaskDef } from "../mod.ts";
import { serveDashboard, toWire } from "../adapters/dashboard.ts";
import { launchBrowser, SKIP_REASON, type TestBrowser } from "./_browser.ts";

if (SKIP_REASON !== null) console.warn(`dashboard browser test skipped: ${SKIP_REASON}`);

/** A layered DAG: `layers` × `width` tasks, each depending on up to 3 tasks of the layer before. */
function layered(layers: number, width: number, run: TaskDef["run"]): TaskDef[] {
  const tasks: TaskDef[] = [];
  for (let l = 0; l < layers; l++) {
    for (let w = 0; w < width; w++) {
      const deps = l === 0
        ? []
        : [...new Set([w, (w * 7 + 3) % width, (w * 13 + 5) % width])].map((d) => `t${l - 1}.${d}`);
      tasks.push({ id: `t${l}.${w}`, dependsOn: deps, run });
    }
  }
  return tasks;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

Deno.test("serveDashboard() listens on loopback only and serves the page, runs and events", async () => {
  const engine = createEngine();
  assert.throws(() => serveDashboard(engine, { hostname: "0.0.0.0" }), RangeError);
  const dashboard = serveDashboard(engine, { flushMs: 5 });
  try {
    assert.match(dashboard.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(dashboard.url);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(await page.text(), /<canvas id="canvas">/);
    const missing = await fetch(new URL("nope", dashboard.url));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();

    const wf = defineWorkflow({
      name: "sse",
      tasks: [{ id: "a", run: () => 1 }, { id: "b", dependsOn: ["a"], run: () => 2 }],
    });
    await engine.run(wf, { runId: "first" });
    const runs = await (await fetch(new URL("runs.json", dashboard.url))).json();
    assert.deepEqual(runs.map((r: { runId: string; status: string }) => [r.runId, r.status]), [["first", "completed"]]);

    // A stream opened after the run replays its history, then carries the next run live, batched.
    const controller = new AbortController();
    const response = await fetch(new URL("events", dashboard.url), { signal: controller.signal });
    assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const readUntil = async (pattern: RegExp) => {
      for (let i = 0; i < 100 && !pattern.test(text); i++) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
    };
    try {
      await readUntil(/"workflow\.completed","first"/);
      assert.match(text, /^event: hello\ndata: \{"runs":\["first"\],"runId":"first"\}\n\n/);
      await engine.run(wf, { runId: "second" });
      await readUntil(/"workflow\.completed","second"/);
      const batches = text.split("\n\n").filter((m) => m.startsWith("data: [")).map((m) => JSON.parse(m.slice(6)));
      const second = batches.flat().filter((e) => e[2] === "second");
      assert.equal(second.length, engine.log.events("second").length, "every event of the live run arrives once");
      assert.ok(batches.length < 1 + second.length, "live events arrive in batches");
    } finally {
      controller.abort();
      await reader.cancel().catch(() => {});
    }
  } finally {
    await dashboard.close();
    await engine.close();
  }
});

Deno.test("the dashboard lists runs oldest first and opens on the latest run, past eight runs too", async () => {
  const engine = createEngine({ workers: false });
  const dashboard = serveDashboard(engine, { flushMs: 5 });
  /** The `hello` message of an event stream opened with `query`. */
  const hello = async (query: string) => {
    const controller = new AbortController();
    const response = await fetch(new URL(`events${query}`, dashboard.url), { signal: controller.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    try {
      while (!/^event: hello\ndata: .*\n\n/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
    } finally {
      controller.abort();
      await reader.cancel().catch(() => {});
    }
    return JSON.parse(/^event: hello\ndata: (.*)\n\n/.exec(text)![1]) as { runs: string[]; runId: string | null };
  };
  try {
    const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] });
    const ids = Array.from({ length: 12 }, (_, i) => `run-${i}`);
    for (const runId of ids) await engine.run(wf, { runId });
    const listed = await (await fetch(new URL("runs.json", dashboard.url))).json() as { runId: string }[];
    assert.deepEqual(listed.map((r) => r.runId), ids);
    assert.deepEqual(await hello(""), { runs: ids, runId: "run-11" });
    assert.equal((await hello("?run=run-3")).runId, "run-3");
    // A name that is no run (an Object.prototype key among them) opens the latest.
    assert.equal((await hello("?run=constructor")).runId, "run-11");
  } finally {
    await dashboard.close();
    await engine.close();
  }
});

Deno.test("toWire() keeps what the page draws and never a task's result", () => {
  const base = { seq: 3, runId: "r", workflowId: "w", timestamp: 7 };
  assert.deepEqual(
    toWire({ ...base, type: "task.completed", taskId: "a", attempt: 1, data: { result: { big: "x" }, durationMs: 2 } }),
    [3, "task.completed", "r", "a", 1, 7, null],
  );
  assert.deepEqual(
    toWire({ ...base, type: "task.pending", taskId: "b", data: { dependsOn: ["a"] } }),
    [3, "task.pending", "r", "b", null, 7, ["a"]],
  );
  assert.deepEqual(
    toWire({
      ...base,
      type: "task.failed",
      taskId: "c",
      attempt: 2,
      data: { error: { name: "Error", message: "no", stack: "..." }, durationMs: 1 },
    }),
    [3, "task.failed", "r", "c", 2, 7, { message: "no" }],
  );
});

Deno.test({
  name: "the dashboard draws a 1,000-task run in Chromium and turns every task green",
  ignore: SKIP_REASON !== null,
  async fn() {
    const engine = createEngine();
    const dashboard = serveDashboard(engine, { title: "nerv-flow test" });
    let browser: TestBrowser | undefined;
    try {
      browser = await launchBrowser();
      const page = await browser.open(dashboard.url, { width: 1400, height: 800 });
      // Record the longest gap between animation frames while the run goes on.
      await page.eval(`(() => {
        window.maxGap = 0;
        let last = performance.now();
        const tick = (now) => {
          window.maxGap = Math.max(window.maxGap, now - last);
          last = now;
          requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      })()`);
      for (let i = 0; i < 100 && dashboard.clients === 0; i++) await sleep(20);
      assert.equal(dashboard.clients, 1, "the page subscribed to the event stream");

      const wf = defineWorkflow({
        name: "thousand",
        tasks: layered(20, 50, async ({ taskId }) => {
          await sleep(taskId.endsWith(".7") ? 25 : 2 + (taskId.length % 5));
          return taskId;
        }),
      });
      const handle = engine.start(wf, { runId: "big" });
      await page.wait("Number(document.body.dataset.completed) >= 300");
      await page.shot("/tmp/nerv-dashboard-running.png");
      const result = await handle.result;
      assert.equal(result.status, "completed");
      await page.wait(`document.body.dataset.completed === "1000" && document.body.dataset.status === "completed"`);
      // Every node is painted in the completed colour: sample the canvas at each task's centre.
      const sample = await page.eval<{ colours: string[]; tasks: number; batches: number; maxGap: number }>(`(() => {
        const canvas = document.getElementById("canvas");
        const ctx = canvas.getContext("2d");
        const dpr = canvas.width / canvas.clientWidth;
        const colours = new Set();
        for (const t of window.nerv.run.tasks) {
          const [r, g, b] = ctx.getImageData(Math.round(t.x * dpr), Math.round(t.y * dpr), 1, 1).data;
          colours.add(r + "," + g + "," + b);
        }
        return { colours: [...colours], tasks: window.nerv.run.tasks.length, batches: window.nerv.batches,
          maxGap: window.maxGap };
      })()`);
      const green = STATUS_COLORS.completed.fill.match(/[0-9a-f]{2}/g)!.map((h) => parseInt(h, 16)).join(",");
      assert.equal(sample.tasks, 1000);
      assert.deepEqual(sample.colours, [green], "every task is drawn green");
      const events = engine.log.events("big").length;
      assert.ok(sample.batches < events / 20, `${events} events arrived in ${sample.batches} messages`);
      console.log(
        `  ${events} events in ${sample.batches} messages; longest gap between frames ${sample.maxGap.toFixed(0)} ms`,
      );
      assert.equal(await page.text("#done"), "1000");
      assert.match((await page.text("#events"))!, /workflow\.completed/);
      assert.ok(await page.eval<number>(`document.querySelectorAll("#timings tr").length`) > 0, "timings are listed");
      await page.shot("/tmp/nerv-dashboard.png");

      // A page opened later sees the finished run from its history; a failure shows red.
      const failing = defineWorkflow({
        name: "failing",
        tasks: [
          { id: "ok", run: () => 1 },
          {
            id: "broken",
            dependsOn: ["ok"],
            run: () => {
              throw new Error("broken on purpose");
            },
          },
          { id: "never", dependsOn: ["broken"], run: () => 1 },
        ],
      });
      assert.equal((await engine.run(failing, { runId: "bad" })).status, "failed");
      const late = await browser.open(dashboard.url, { width: 900, height: 500 });
      await late.wait(`document.body.dataset.status === "failed"`, 10_000);
      assert.equal(await late.eval("document.body.dataset.failed"), "1");
      assert.equal(await late.eval("document.body.dataset.skipped"), "1");
      assert.match((await late.text("#events"))!, /broken on purpose/);
      await late.shot("/tmp/nerv-dashboard-failed.png");
      assert.deepEqual(await browser.errors(), [], "the pages threw no errors");
    } finally {
      await browser?.close();
      await dashboard.close();
      await engine.close();
    }
  },
});

/** One raw HTTP/1.1 request over TCP (so the `Host` header is exactly what we send); the status and body. */
async function rawRequest(port: number, method: string, path: string, host: string | undefined) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = `${method} ${path} HTTP/1.1\r\n${
      host === undefined ? "" : `Host: ${host}\r\n`
    }Connection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    let text = "";
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(65536);
    // Read the head and, for bodies of known length, the body; an event stream is cut after its first bytes.
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const length = /content-length: (\d+)/i.exec(text.slice(0, end));
        if (/text\/event-stream/.test(text.slice(0, end)) && method === "GET") break;
        if (length !== null && text.length >= end + 4 + Number(length)) break;
      }
    }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
    return { status, text };
  } finally {
    conn.close();
  }
}

Deno.test("serveDashboard() answers only to its own Host names (no DNS rebinding), 400 for a malformed Host, and serves HEAD", async () => {
  const engine = createEngine();
  await engine.run(defineWorkflow({ name: "secret", tasks: [{ id: "a", run: () => 1 }] }), { runId: "r-secret" });
  const dashboard = serveDashboard(engine, { allowedHosts: ["flow.tunnel.example"] });
  const port = dashboard.port;
  try {
    await Promise.all(
      [`127.0.0.1:${port}`, `localhost:${port}`, "localhost", `[::1]:${port}`, "LOCALHOST", "flow.tunnel.example:9000"]
        .map(async (host) => {
          const r = await rawRequest(port, "GET", "/runs.json", host);
          assert.equal(r.status, 200, `Host ${host}: ${r.text}`);
          assert.match(r.text, /r-secret/);
        }),
    );
    // A page whose DNS name was rebound to 127.0.0.1 names its own host: refused, nothing leaks.
    for (const path of ["/runs.json", "/events", "/"]) {
      for (
        const host of [
          `evil.example:${port}`,
          "evil.example",
          `127.0.0.1:${port + 1}`,
          `localhost.evil.example:${port}`,
        ]
      ) {
        const r = await rawRequest(port, "GET", path, host);
        assert.equal(r.status, 403, `GET ${path} Host ${host}: ${r.text}`);
        assert.doesNotMatch(r.text, /r-secret/);
      }
    }
    // Malformed or missing Host: 400, never a 500 with a stack.
    for (const host of ["[::1", `[::1:${port}`, "a b", `localhost:${port}:1`, "localhost:99999", undefined]) {
      const r = await rawRequest(port, "GET", "/runs.json", host);
      assert.equal(r.status, 400, `Host ${host}: ${r.text}`);
      assert.doesNotMatch(r.text, /at .*\.ts:\d+/);
    }
    // HEAD is served (no body); other methods are not.
    const head = await rawRequest(port, "HEAD", "/", `127.0.0.1:${port}`);
    assert.equal(head.status, 200);
    assert.match(head.text, /content-type: text\/html/i);
    assert.doesNotMatch(head.text, /<canvas/);
    assert.equal((await rawRequest(port, "HEAD", "/events", `127.0.0.1:${port}`)).status, 200);
    assert.equal(dashboard.clients, 0);
    assert.equal((await rawRequest(port, "POST", "/", `127.0.0.1:${port}`)).status, 405);
  } finally {
    await dashboard.close();
    await engine.close();
  }
  assert.throws(() => serveDashboard(engine, { allowedHosts: ["[::1"] }), TypeError);
});
