import assert from "node:assert/strict";
import { createEngine, defineWorkflow, type TaskDef, toDot, toMermaid } from "../mod.ts";
import { MERMAID_MAX_EDGES, STATUS_COLORS } from "../extend.ts";
import { launchBrowser, SKIP_REASON } from "./_browser.ts";

const run = () => null;
const diamond = defineWorkflow({
  name: "diamond",
  tasks: [
    { id: "a", run },
    { id: "b", dependsOn: ["a"], run, name: "B task" },
    { id: "c", dependsOn: ["a"], run },
    { id: "d", dependsOn: ["b", "c"], run },
  ],
});

Deno.test("toMermaid() draws one node per task and one arrow per dependency", () => {
  const text = toMermaid(diamond);
  assert.equal(
    text,
    [
      "flowchart LR",
      '  t0["a"]',
      '  t1["b"]',
      '  t2["c"]',
      '  t3["d"]',
      "  t0 --> t1",
      "  t0 --> t2",
      "  t1 --> t3",
      "  t2 --> t3",
      "",
    ].join("\n"),
  );
});

Deno.test("toMermaid() colours tasks by status with one class per status", () => {
  const text = toMermaid(diamond, { status: { a: "completed", b: "failed", c: "completed", d: "skipped" } });
  assert.match(text, new RegExp(`classDef completed fill:${STATUS_COLORS.completed.fill}`));
  assert.match(text, /class t0,t2 completed/);
  assert.match(text, /class t1 failed/);
  assert.match(text, /class t3 skipped/);
  assert.doesNotMatch(text, /running/);
});

Deno.test("toMermaid() escapes labels and honours direction and names", () => {
  const wf = defineWorkflow({ name: "odd", tasks: [{ id: 'say "hi" <now> #1', run }] });
  const text = toMermaid(wf, { direction: "TB" });
  assert.match(text, /^flowchart TB\n/);
  assert.match(text, /t0\["say #34;hi#34; #60;now#62; #35;1"\]/);
  assert.match(toMermaid(diamond, { names: true }), /t1\["B task"\]/);
  assert.throws(() => toMermaid(diamond, { direction: "RL" as "LR" }), RangeError);
});

Deno.test("toDot() draws a digraph with escaped ids and status colours", () => {
  const wf = defineWorkflow({
    name: 'a "quoted" flow',
    tasks: [{ id: "x", run }, { id: 'y"z', dependsOn: ["x"], run }],
  });
  const dot = toDot(wf, { status: { x: "completed", 'y"z': "running" } });
  assert.ok(dot.startsWith(`digraph "a \\"quoted\\" flow" {\n  rankdir=LR;`));
  assert.match(dot, /"x" -> "y\\"z";/);
  assert.match(dot, new RegExp(`"x" \\[label="x", fillcolor="${STATUS_COLORS.completed.fill}"`));
  assert.match(dot, new RegExp(`"y\\\\"z" \\[label="y\\\\"z", fillcolor="${STATUS_COLORS.running.fill}"`));
  assert.ok(dot.trimEnd().endsWith("}"));
});

Deno.test("toDot() and toMermaid() take a run's taskStatus projection", async () => {
  const engine = createEngine();
  try {
    const wf = defineWorkflow({
      name: "partly",
      tasks: [
        { id: "ok", run: () => 1 },
        {
          id: "boom",
          run: () => {
            throw new Error("no");
          },
        },
        { id: "after", dependsOn: ["boom"], run },
      ],
    });
    const { runId, status } = await engine.run(wf);
    assert.equal(status, "failed");
    const statuses = engine.project("taskStatus", runId);
    const dot = toDot(wf, { status: statuses });
    assert.match(dot, new RegExp(`"ok" \\[[^\\]]*fillcolor="${STATUS_COLORS.completed.fill}"`));
    assert.match(dot, new RegExp(`"boom" \\[[^\\]]*fillcolor="${STATUS_COLORS.failed.fill}"`));
    assert.match(dot, new RegExp(`"after" \\[[^\\]]*fillcolor="${STATUS_COLORS.skipped.fill}"`));
    assert.match(toMermaid(wf, { status: statuses }), /class t2 skipped/);
  } finally {
    await engine.close();
  }
});

Deno.test("graph exports reject a value not made by defineWorkflow", () => {
  assert.throws(() => toMermaid({ name: "x", description: undefined, tasks: [] }), TypeError);
  assert.throws(() => toDot({ name: "x", description: undefined, tasks: [] }), TypeError);
});

const TRICKY = ["&amp;", "&lt;b&gt;", "`tick`", "fa:fa-car", "x\r\ny", "x\ny", "x\\ny", 'q"uote', "tab\there", "end\\"];

Deno.test("toMermaid() shows ids as written: HTML entities, backticks, icons and line breaks are escaped", () => {
  const wf = defineWorkflow({ name: "tricky", tasks: TRICKY.map((id) => ({ id, run })) });
  const text = toMermaid(wf);
  const labels = [...text.matchAll(/^ {2}t\d+\["(.*)"\]$/gm)].map((m) => m[1]);
  assert.equal(labels.length, TRICKY.length);
  // Nothing Mermaid reads as markup is left: no raw &, <, >, `, :, ", line break or control character.
  for (const l of labels) assert.doesNotMatch(l, /[&<>`:"\\\r\n\t]/, l);
  assert.equal(labels[0], "#38;amp;"); // shows "&amp;", not "&"
  assert.equal(labels[1], "#38;lt;b#38;gt;");
  assert.equal(labels[2], "#96;tick#96;"); // not a Markdown string
  assert.equal(labels[3], "fa#58;fa-car"); // not an icon
  // Line breaks read as their control pictures, so ids that differ by them differ on screen.
  assert.equal(labels[4], "x␍␊y");
  assert.equal(labels[5], "x␊y");
  assert.equal(labels[6], "x#92;ny"); // a backslash and an n, not a line break
  assert.equal(labels[8], "tab␉here");
  assert.equal(new Set(labels.map(decodeMermaid)).size, TRICKY.length);
});

/** What a Mermaid label reads once its entity codes are decoded. */
function decodeMermaid(label: string): string {
  return label.replace(/#(\d+);/g, (_, code) => String.fromCharCode(Number(code)));
}

Deno.test("toDot() keeps ids that differ only by line breaks or backslashes apart", () => {
  const wf = defineWorkflow({
    name: "tricky",
    tasks: TRICKY.map((id, i) => ({ id, dependsOn: i === 0 ? [] : [TRICKY[i - 1]], run })),
  });
  const dot = toDot(wf);
  const nodes = [...dot.matchAll(/^ {2}("(?:[^"\\]|\\.)*") \[label=/gm)].map((m) => m[1]);
  assert.equal(new Set(nodes).size, TRICKY.length, nodes.join(" | "));
  assert.ok(nodes.includes('"x\\r\\ny"') && nodes.includes('"x\\ny"') && nodes.includes('"x\\\\ny"'));
  // Labels show line breaks as control pictures, one line each.
  assert.match(dot, /"x\\r\\ny" \[label="x␍␊y"\]/);
});

const DOT = await (async () => {
  try {
    const { success } = await new Deno.Command("dot", { args: ["-V"], stderr: "null", stdout: "null" }).output();
    return success ? "dot" : null;
  } catch {
    return null;
  }
})();
if (DOT === null) console.warn("graph export test with Graphviz skipped: no `dot` (apt-get install graphviz)");

/** Lays a DOT text out with Graphviz: its nodes' names and labels, and its edges. */
async function graphviz(dot: string): Promise<{ nodes: Map<string, string>; edges: number }> {
  const child = new Deno.Command("dot", { args: ["-Tjson0"], stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(dot));
  await writer.close();
  const out = await child.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const json = JSON.parse(new TextDecoder().decode(out.stdout));
  const nodes = new Map<string, string>(
    (json.objects ?? []).map((o: { name: string; label: string }) => [o.name, o.label]),
  );
  return { nodes, edges: (json.edges ?? []).length };
}

Deno.test({
  name:
    "Graphviz reads toDot() with one node per task, even for ids that differ only by line breaks or end in a backslash",
  ignore: DOT === null,
  fn: async () => {
    const wf = defineWorkflow({
      name: "tricky\\",
      tasks: TRICKY.map((id, i) => ({ id, dependsOn: i === 0 ? [] : [TRICKY[i - 1]], run })),
    });
    const { nodes, edges } = await graphviz(toDot(wf));
    // Graphviz names nodes by their DOT ids as written (escapes kept): one per task, none merged.
    assert.equal(nodes.size, TRICKY.length);
    assert.equal(edges, TRICKY.length - 1);
    // The labels read like the ids, line breaks shown as control pictures.
    assert.deepEqual(
      new Set(nodes.values()),
      new Set(
        TRICKY.map((id) => id.replace(/\r/g, "␍").replace(/\n/g, "␊").replace(/\t/g, "␉").replace(/\\/g, "\\\\")),
      ),
    );
    const collapsed = await graphviz(toDot(big(), { collapse: "level" }));
    assert.ok(collapsed.nodes.size < 30 && collapsed.nodes.size > 1);
  },
});

/** A layered workflow of 500 tasks with more than 900 dependencies. */
function big(): ReturnType<typeof defineWorkflow> {
  const tasks: TaskDef[] = [];
  const width = 25;
  for (let l = 0; l < 20; l++) {
    for (let w = 0; w < width; w++) {
      const deps = l === 0 ? [] : [...new Set([w, (w * 7 + 3) % width])].map((d) => `t${l - 1}.${d}`);
      tasks.push({ id: `t${l}.${w}`, dependsOn: deps, run });
    }
  }
  return defineWorkflow({ name: "big", tasks });
}

Deno.test('toMermaid() says when a picture has more edges than stock Mermaid draws, and collapse: "level" draws one node per level', () => {
  const wf = big();
  const full = toMermaid(wf);
  const edges = full.split("\n").filter((l) => l.includes(" --> ")).length;
  assert.ok(edges > MERMAID_MAX_EDGES, `${edges} edges`);
  assert.match(full, new RegExp(`^flowchart LR\n  %% ${edges} edges: stock Mermaid draws at most 500`));
  assert.doesNotMatch(toMermaid(diamond), /%%/);

  const status = Object.fromEntries(
    wf.tasks.map((t, i) => [t.id, i === 260 ? "failed" : i < 260 ? "completed" : "skipped"] as const),
  );
  const small = toMermaid(wf, { collapse: "level", status });
  const lines = small.split("\n");
  assert.equal(lines.filter((l) => /^ {2}L\d+\["/.test(l)).length, 20);
  assert.equal(lines.filter((l) => l.includes(" -->")).length, 19);
  assert.doesNotMatch(small, /edges: stock Mermaid/);
  assert.match(small, /L0\["level 0#58; 25 tasks<br>t0.0, t0.1, t0.2, …<br>25 completed"\]/);
  assert.match(small, /L9 -->\|"49 dependencies"\| L10/);
  assert.match(small, /class L10 failed/);
  assert.match(small, /L10\["[^"]*1 failed, 14 skipped, 10 completed"\]/);
  // "auto" collapses only what stock Mermaid cannot draw.
  assert.equal(toMermaid(wf, { collapse: "auto" }), toMermaid(wf, { collapse: "level" }));
  assert.equal(toMermaid(diamond, { collapse: "auto" }), toMermaid(diamond));
  assert.throws(() => toMermaid(wf, { collapse: "fanout" as "level" }), RangeError);
  // DOT too.
  const dot = toDot(wf, { collapse: "level", status });
  assert.match(dot, /"level 9" -> "level 10" \[label="49"\];/);
  assert.match(
    dot,
    new RegExp(
      `"level 10" \\[label="level 10: 25 tasks\\\\nt10.0, t10.1, t10.2, …\\\\n1 failed, 14 skipped, 10 completed", fillcolor="${STATUS_COLORS.failed.fill}"`,
    ),
  );
});

// Stock Mermaid in Chromium: where both are found (the bundle from `npm pack mermaid@11`, unpacked), the
// pictures are drawn for real. NERV_MERMAID_JS names the bundle; tests skip with a message otherwise.
const MERMAID_JS = Deno.env.get("NERV_MERMAID_JS") ?? "/tmp/mermaid/package/dist/mermaid.min.js";
const MERMAID_SKIP = SKIP_REASON ??
  (await Deno.stat(MERMAID_JS).then(
    () => null,
    () =>
      `no Mermaid bundle at ${MERMAID_JS} (cd /tmp/mermaid && npm pack mermaid@11 && tar xzf mermaid-*.tgz, ` +
      `or set NERV_MERMAID_JS)`,
  ));
if (MERMAID_SKIP !== null) console.warn(`graph export test with Mermaid skipped: ${MERMAID_SKIP}`);

Deno.test({
  name: "stock Mermaid draws toMermaid()'s ids as written, refuses 931 edges, and draws the collapsed view",
  ignore: MERMAID_SKIP !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const bundle = await Deno.readFile(MERMAID_JS);
    const page = `<!doctype html><meta charset="utf-8"><body><div id="out"></div>
<script src="/mermaid.js"></script>
<script>
  mermaid.initialize({ startOnLoad: false });
  window.draw = async (text) => {
    try {
      const { svg } = await mermaid.render("g" + Math.random().toString(36).slice(2), text);
      const out = document.getElementById("out");
      out.innerHTML = svg;
      const labels = [...out.querySelectorAll(".node .nodeLabel")].map((e) => e.textContent);
      return { labels, icons: out.querySelectorAll("i.fa, i[class*='fa-']").length, html: out.querySelectorAll(".nodeLabel b, .nodeLabel code, .nodeLabel strong").length };
    } catch (e) {
      return { error: String(e && e.message || e) };
    }
  };
</script>`;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
      const path = new URL(request.url).pathname;
      return path === "/mermaid.js"
        ? new Response(bundle, { headers: { "content-type": "text/javascript" } })
        : new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
    });
    const browser = await launchBrowser();
    try {
      const tab = await browser.open(`http://127.0.0.1:${server.addr.port}/`);
      await tab.wait("typeof window.draw === 'function' && typeof mermaid !== 'undefined'");
      type Drawn = { labels?: string[]; icons?: number; html?: number; error?: string };
      const draw = (text: string) => tab.eval<Drawn>(`window.draw(${JSON.stringify(text)})`);

      const tricky = defineWorkflow({ name: "tricky", tasks: TRICKY.map((id) => ({ id, run })) });
      const drawn = await draw(toMermaid(tricky));
      assert.equal(drawn.error, undefined, drawn.error ?? "");
      const shown = TRICKY.map((id) => id.replace(/\r/g, "␍").replace(/\n/g, "␊").replace(/\t/g, "␉"));
      assert.deepEqual(drawn.labels, shown);
      assert.equal(drawn.icons, 0);
      assert.equal(drawn.html, 0);

      const full = await draw(toMermaid(big()));
      assert.match(full.error ?? "", /Edge limit exceeded/i);
      const collapsed = await draw(toMermaid(big(), { collapse: "level" }));
      assert.equal(collapsed.error, undefined, collapsed.error ?? "");
      assert.equal(collapsed.labels?.length, 20);
      assert.match(collapsed.labels![0], /^level 0: 25 tasks/);
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});
