/**
 * Multi-agent coordination: five agents are tasks whose outputs feed each
 * other, and every message between them is read off the engine's bus.
 *
 * ```
 *            ┌─► researcher:docs ─────────────┐
 * planner ───┤                                ├─► critic ─► writer
 *            └─► researcher:search (breaker) ─┘
 *                 └ fallback: the offline cache
 * ```
 *
 * `researcher:search` calls a search service that is down: its attempts fail,
 * the `search` circuit breaker opens after two failures, the next attempt is
 * refused without running, and the task takes its fallback (a cached, offline
 * answer). Its result records the path that produced it (`path: "fallback"`).
 * The critic then asks the same service to fact-check: the breaker is still
 * open, so it fails fast and takes its own fallback too.
 *
 * Run it with `deno task demo:agents`.
 *
 * @module
 */
import { createEngine, flow, isTaskCompleted } from "../mod.ts";
import type { DeliveredEvent } from "../extend.ts";

interface Message {
  /** Who speaks. */
  from: string;
  /** Who it is for. */
  to: string;
  /** What they say. */
  text: string;
}

interface Plan extends Message {
  questions: [docs: string, web: string];
}

const TOPIC = "actor-model workflow engines";

/** The search service: down for the whole demo. */
function searchService(query: string): Promise<string> {
  return Promise.reject(new Error(`search service unavailable (query "${query}")`));
}

/** What the search agent answers when the service is down. */
const OFFLINE_CACHE: Record<string, string> = {
  "who uses actors for workflows?": "cached: Temporal, Akka and XState model long-running work as actors",
  "fact-check": "cached: no contradictions found in yesterday's snapshot",
};

const workflow = flow<{ topic: string }>("multi-agent", {
  description: "A planner, two researchers, a critic and a writer",
})
  .task("planner", ({ input }): Plan => ({
    from: "planner",
    to: "researchers",
    text: `split "${input.topic}" into two questions`,
    questions: ["how do actors schedule tasks?", "who uses actors for workflows?"],
  }))
  .task("researcher:docs", {
    dependsOn: ["planner"],
    run: ({ deps }): Message => {
      const q = deps.planner.questions[0];
      return { from: "researcher:docs", to: "critic", text: `${q} → each task starts when its dependencies end` };
    },
  })
  .task("researcher:search", {
    dependsOn: ["planner"],
    breaker: { key: "search", threshold: 2, cooldownMs: 60_000 },
    retry: { maxAttempts: 3, initialDelayMs: 5 },
    run: async ({ deps }): Promise<Message> => {
      const q = deps.planner.questions[1];
      return { from: "researcher:search", to: "critic", text: await searchService(q) };
    },
    fallback: ({ deps }): Message => {
      const q = deps.planner.questions[1];
      return { from: "researcher:search", to: "critic", text: OFFLINE_CACHE[q] };
    },
  })
  .task("critic", {
    dependsOn: ["researcher:docs", "researcher:search"],
    breaker: "search",
    run: async ({ deps }): Promise<Message> => {
      const claims = [deps["researcher:docs"], deps["researcher:search"]];
      const check = await searchService(claims.map((c) => c.text).join("; "));
      return { from: "critic", to: "writer", text: check };
    },
    fallback: ({ deps }): Message => {
      const n = [deps["researcher:docs"], deps["researcher:search"]].length;
      return { from: "critic", to: "writer", text: `${n} findings accepted (${OFFLINE_CACHE["fact-check"]})` };
    },
  })
  .task("writer", {
    dependsOn: ["critic", "researcher:docs", "researcher:search"],
    run: ({ deps, input }): Message => {
      const findings = [deps["researcher:docs"], deps["researcher:search"]];
      return {
        from: "writer",
        to: "user",
        text: `${input.topic}: ${findings.map((f) => f.text).join("; ")} [review: ${deps.critic.text}]`,
      };
    },
  })
  .build();

// The search breaker lives in the engine: it would stay open for the next run too.
const engine = createEngine();

function say(e: DeliveredEvent, text: string): void {
  console.log(`${String(e.seq).padStart(3)}  ${text}`);
}

engine.bus.onAny((e) => {
  switch (e.type) {
    case "task.completed": {
      if (!isTaskCompleted(workflow, e)) return; // Every task of this workflow says a Message.
      const m = e.data.result;
      const via = e.data.path === "fallback" ? " (fallback)" : "";
      return say(e, `${m.from} → ${m.to}${via}: ${m.text}`);
    }
    case "task.retrying":
      return say(e, `${e.taskId} attempt ${e.attempt} failed: ${e.data.error.message}`);
    case "task.fallback":
      return say(e, `${e.taskId} gives up on the service: ${e.data.error.name}`);
    case "breaker.opened":
      return say(e, `breaker "${e.data.key}" opened after ${e.data.failures} failures`);
    case "task.failed":
      return say(e, `${e.taskId} failed: ${e.data.error.message}`);
  }
});

const result = await engine.run(workflow, { input: { topic: TOPIC } });
console.log(`researcher:search path: ${result.tasks["researcher:search"].path}`);
console.log(
  `the writer wrote ${result.tasks.writer.result?.text.length ?? 0} characters for ${result.tasks.writer.result?.to}`,
);
console.log(`critic path: ${result.tasks.critic.path}`);
console.log(`breaker "search" is ${engine.breakerState("search")}`);
console.log(`multi-agent run ${result.status}`);
await engine.close();
if (result.status !== "completed") Deno.exitCode = 1;
