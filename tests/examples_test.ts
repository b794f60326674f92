import assert from "node:assert/strict";

/** Runs an example as `deno task` does (same permissions) and returns its output. */
async function runExample(file: string, permissions: string[]): Promise<{ code: number; out: string }> {
  const root = new URL("../", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, file],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) console.error(new TextDecoder().decode(out.stderr));
  return { code: out.code, out: text };
}

Deno.test("examples/multi_agent.ts: the search agent takes its fallback behind an open breaker", async () => {
  const { code, out } = await runExample("examples/multi_agent.ts", []);
  assert.equal(code, 0);
  assert.match(out, /breaker "search" opened after 2 failures/);
  assert.match(out, /researcher:search path: fallback/);
  assert.match(out, /multi-agent run completed/);
});

Deno.test("examples/dynamic_pipeline.ts: the fan-out follows the documents found", async () => {
  const { code, out } = await runExample("examples/dynamic_pipeline.ts", ["--allow-read=."]);
  assert.equal(code, 0);
  const docs = [...Deno.readDirSync(new URL("../examples/docs/", import.meta.url))]
    .filter((e) => e.name.endsWith(".md")).length;
  assert.match(out, new RegExp(`discovered ${docs} documents; the run had ${1 + 3 * docs + 2} tasks`));
  assert.match(out, /dynamic pipeline completed/);
});
