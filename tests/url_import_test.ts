import assert from "node:assert/strict";

const MOD_URL = new URL("../mod.ts", import.meta.url).href;

const SCRIPT = `
import { createEngine, defineWorkflow } from ${JSON.stringify(MOD_URL)};

const wf = defineWorkflow({
  name: "url-import",
  tasks: [
    { id: "split", run: () => "to be or not to be".split(" ") },
    { id: "count", dependsOn: ["split"], run: ({ deps }) => deps.split.length },
    { id: "report", dependsOn: ["split", "count"], run: ({ deps }) => \`\${new Set(deps.split).size}/\${deps.count}\` },
  ],
});
const engine = createEngine();
const result = await engine.run(wf);
const completed = engine.project("completedTasks", result.runId);
await engine.close();
console.log(JSON.stringify({
  status: result.status,
  results: Object.fromEntries(Object.entries(result.tasks).map(([id, t]) => [id, t.result])),
  completed,
}));
`;

Deno.test("mod.ts runs when imported by file URL, without a config or import map", async () => {
  // The test task may write only under /tmp.
  const dir = await Deno.makeTempDir({ dir: Deno.build.os === "windows" ? undefined : "/tmp", prefix: "nerv-url-" });
  try {
    const script = `${dir}/main.js`;
    await Deno.writeTextFile(script, SCRIPT);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--allow-read", script],
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `the script exited with ${output.code}:\n${stderr}`);
    assert.deepEqual(JSON.parse(stdout), {
      status: "completed",
      results: { split: ["to", "be", "or", "not", "to", "be"], count: 6, report: "4/6" },
      completed: ["split", "count", "report"],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
