/**
 * `deno task run <module> --nats <servers>`: the run's log on JetStream; the
 * CLI process killed mid-run; `--resume <runId> --nats <servers>` from another
 * process takes the run over and finishes it without running completed tasks again.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { AnyFlowEvent } from "../extend.ts";
import { jetstreamLogStore } from "../adapters/nats/log_store.ts";
import { hasNatsServer, startNatsServer } from "./_nats.ts";

const CLI = new URL("../adapters/cli.ts", import.meta.url).pathname;
const MODULE = new URL("./_nats_log_cli_module.ts", import.meta.url).pathname;

function cli(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write=/tmp", "--allow-env", "--allow-net=127.0.0.1", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test({
  name: "the CLI runs on --nats; killed mid-run, --resume <runId> --nats finishes the run from another process",
  ignore: !hasNatsServer(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await startNatsServer();
    const markers = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-cli-" });
    try {
      const input = JSON.stringify({ markers, slowMs: 80 });
      const first = cli([MODULE, "--nats", server.url, "--plain", "--input", input]);
      let text = "";
      const reader = first.stdout.pipeThrough(new TextDecoderStream()).getReader();
      // Until two tasks completed: then the run is in flight.
      while ((text.match(/completed/g) ?? []).length < 2) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      first.kill("SIGKILL");
      await first.status;
      reader.releaseLock();
      await first.stderr.cancel();
      const runId = /run: (\S+)/.exec(text)?.[1];
      assert.ok(runId !== undefined, `the CLI printed the run id: ${text}`);
      assert.match(text, new RegExp(`--resume ${runId} --nats`));

      const second = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write=/tmp",
          "--allow-env",
          "--allow-net=127.0.0.1",
          CLI,
          MODULE,
          "--nats",
          server.url,
          "--resume",
          runId,
          "--plain",
        ],
      }).output();
      const out = new TextDecoder().decode(second.stdout);
      assert.equal(second.code, 0, `${out}\n${new TextDecoder().decode(second.stderr)}`);
      assert.match(out, new RegExp(`taking run ${runId} over`));
      assert.match(out, /resumed/);

      const store = await jetstreamLogStore({ servers: server.url });
      const events: AnyFlowEvent[] = await store.read(runId);
      await store.close();
      assert.equal(events.at(-1)?.type, "workflow.completed");
      const resumedAt = events.find((e) => e.type === "workflow.resumed")!.seq;
      const before = new Set(
        events.filter((e) => e.type === "task.completed" && e.seq < resumedAt).map((e) => e.taskId!),
      );
      assert.ok(before.size >= 2);
      const files = [...Deno.readDirSync(markers)].map((f) => f.name.split("."));
      for (const [, task, pid] of files) {
        if (before.has(task)) assert.equal(Number(pid), first.pid, `task ${task} ran again after the takeover`);
      }
      assert.equal(new Set(files.map((f) => f[1])).size, 12, "every task ran");
      // --resume needs a place for the log.
      const bad = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLI, MODULE, "--resume", runId],
      }).output();
      assert.equal(bad.code, 2);
      assert.match(new TextDecoder().decode(bad.stderr), /--resume needs --log <file> or --nats <servers>/);
    } finally {
      await server.stop();
      await Deno.remove(markers, { recursive: true });
    }
  },
});
