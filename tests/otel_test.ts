import assert from "node:assert/strict";
import {
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  SpanStatusCode,
  type TimeInput,
  trace,
  type Tracer,
  type TracerProvider,
} from "../src/deps_otel.ts";
import { createEngine, createVirtualClock, defineWorkflow } from "../mod.ts";
import { instrument, SPAN_ATTRIBUTES as A } from "../otel.ts";

/** A span kept in memory: what a test reads back. */
class MemorySpan implements Span {
  readonly name: string;
  readonly attributes: Attributes;
  readonly startTime: TimeInput | undefined;
  readonly parentSpanId: string | undefined;
  readonly events: { name: string; attributes?: Attributes }[] = [];
  readonly exceptions: unknown[] = [];
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  endTime: TimeInput | undefined;
  ended = false;
  readonly #context: SpanContext;
  constructor(name: string, options: SpanOptions, traceId: string, spanId: string, parentSpanId?: string) {
    this.name = name;
    this.attributes = { ...options.attributes };
    this.startTime = options.startTime;
    this.parentSpanId = parentSpanId;
    this.#context = { traceId, spanId, traceFlags: 1 };
  }
  spanContext(): SpanContext {
    return this.#context;
  }
  setAttribute(key: string, value: Attributes[string]): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent(name: string, attributes?: Attributes | TimeInput): this {
    this.events.push({ name, attributes: attributes as Attributes });
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  updateName(): this {
    return this;
  }
  end(endTime?: TimeInput): void {
    assert.equal(this.ended, false, `span "${this.name}" ended twice`);
    this.ended = true;
    this.endTime = endTime;
  }
  isRecording(): boolean {
    return !this.ended;
  }
  recordException(exception: unknown): void {
    this.exceptions.push(exception);
  }
}

/** A minimal in-memory tracer provider: every span it starts, in order. */
class MemoryTracerProvider implements TracerProvider {
  readonly spans: MemorySpan[] = [];
  readonly scopes: string[] = [];
  #ids = 0;
  getTracer(name: string): Tracer {
    this.scopes.push(name);
    const start = (spanName: string, options: SpanOptions = {}, ctx?: Context): Span => {
      const parent = ctx === undefined ? undefined : trace.getSpan(ctx)?.spanContext();
      const id = (++this.#ids).toString(16).padStart(16, "0");
      const span = new MemorySpan(spanName, options, parent?.traceId ?? id.padStart(32, "0"), id, parent?.spanId);
      this.spans.push(span);
      return span;
    };
    return {
      startSpan: start,
      startActiveSpan: (() => {
        throw new Error("not used");
      }) as Tracer["startActiveSpan"],
    };
  }
}

async function withProvider(fn: (provider: MemoryTracerProvider) => Promise<void>): Promise<void> {
  const provider = new MemoryTracerProvider();
  assert.ok(trace.setGlobalTracerProvider(provider), "no other provider is registered");
  try {
    await fn(provider);
  } finally {
    trace.disable();
  }
}

Deno.test("instrument() makes a span per run and a child span per task attempt", async () => {
  await withProvider(async (provider) => {
    const clock = createVirtualClock(10_000);
    const engine = createEngine({ clock });
    const stop = instrument(engine);
    try {
      let calls = 0;
      const wf = defineWorkflow({
        name: "traced",
        tasks: [
          { id: "a", profile: "io", run: () => 1 },
          {
            id: "b",
            dependsOn: ["a"],
            profile: "mixed",
            retry: { maxAttempts: 2, initialDelayMs: 5 },
            run: () => {
              if (++calls === 1) throw new TypeError("flaky");
              return 2;
            },
          },
        ],
      });
      const result = await clock.runUntil(engine.run(wf, { runId: "r1" }));
      assert.equal(result.status, "completed");
      assert.deepEqual(provider.scopes, ["nerv-flow"]);
      const [run, ...tasks] = provider.spans;
      assert.equal(run.name, "run traced");
      assert.equal(run.parentSpanId, undefined);
      assert.deepEqual(run.attributes, {
        [A.runId]: "r1",
        [A.workflowId]: "traced",
        [A.taskCount]: 2,
        [A.runStatus]: "completed",
      });
      assert.equal(run.status.code, SpanStatusCode.OK);
      assert.equal(run.startTime, 10_000);
      assert.equal(run.endTime, 10_005);
      assert.deepEqual(
        tasks.map((s) => [s.name, s.attributes[A.attempt], s.attributes[A.outcome], s.status.code]),
        [
          ["task a", 1, "completed", SpanStatusCode.OK],
          ["task b", 1, "retrying", SpanStatusCode.ERROR],
          ["task b", 2, "completed", SpanStatusCode.OK],
        ],
      );
      for (const s of tasks) {
        assert.equal(s.parentSpanId, run.spanContext().spanId, `${s.name} is a child of the run span`);
        assert.equal(s.spanContext().traceId, run.spanContext().traceId);
        assert.equal(s.attributes[A.runId], "r1");
        assert.ok(s.ended);
      }
      assert.equal(tasks[0].attributes[A.profile], "io");
      assert.equal(tasks[1].attributes[A.profile], "mixed");
      assert.equal(tasks[1].status.message, "flaky");
      assert.equal((tasks[1].exceptions[0] as Error).name, "TypeError");
      assert.equal(tasks[2].startTime, 10_005);
    } finally {
      stop();
      await engine.close();
    }
  });
});

Deno.test("instrument() marks failed runs and attempts as errors and records skipped tasks", async () => {
  await withProvider(async (provider) => {
    const engine = createEngine();
    const stop = instrument(engine);
    try {
      const wf = defineWorkflow({
        name: "broken",
        tasks: [
          {
            id: "boom",
            run: () => {
              throw new Error("kaput");
            },
          },
          { id: "after", dependsOn: ["boom"], run: () => 1 },
        ],
      });
      assert.equal((await engine.run(wf)).status, "failed");
      const [run, boom] = provider.spans;
      assert.equal(provider.spans.length, 2, "a skipped task has no attempt span");
      assert.equal(boom.status.code, SpanStatusCode.ERROR);
      assert.equal(boom.status.message, "kaput");
      assert.equal(boom.attributes[A.outcome], "failed");
      assert.equal(run.status.code, SpanStatusCode.ERROR);
      assert.equal(run.attributes[A.runStatus], "failed");
      assert.deepEqual(run.events.map((e) => [e.name, e.attributes?.[A.taskId]]), [["task.skipped", "after"]]);
    } finally {
      stop();
      await engine.close();
    }
  });
});

Deno.test("instrument() ends open spans when a run is cancelled or tracing stops", async () => {
  await withProvider(async (provider) => {
    const engine = createEngine();
    const stop = instrument(engine);
    try {
      const wf = defineWorkflow({
        name: "stuck",
        tasks: [{
          id: "wait",
          run: ({ signal }) =>
            new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
        }],
      });
      const handle = engine.start(wf);
      await new Promise((resolve) => setTimeout(resolve, 0));
      handle.cancel("enough");
      assert.equal((await handle.result).status, "cancelled");
      const [run, task] = provider.spans;
      assert.ok(run.ended && task.ended);
      assert.equal(task.attributes[A.outcome], "cancelled");
      assert.equal(run.attributes[A.runStatus], "cancelled");
      assert.equal(run.status.code, SpanStatusCode.ERROR);

      let release!: () => void;
      const second = engine.start(defineWorkflow({
        name: "open",
        tasks: [{ id: "held", run: () => new Promise<void>((r) => release = r) }],
      }));
      await new Promise((resolve) => setTimeout(resolve, 0));
      stop();
      const [run2, held] = provider.spans.slice(2);
      assert.ok(run2.ended && held.ended, "stop() ends the spans still open");
      release();
      await second.result;
      assert.equal(provider.spans.length, 4, "nothing is traced after stop()");
    } finally {
      stop();
      await engine.close();
    }
  });
});

Deno.test("instrument() emits nothing without a registered tracer provider", async () => {
  const engine = createEngine();
  const stop = instrument(engine);
  try {
    const tracer = trace.getTracer("nerv-flow");
    const probe = tracer.startSpan("probe");
    assert.equal(probe.isRecording(), false, "the API is a no-op without an SDK");
    probe.end();
    const wf = defineWorkflow({ name: "quiet", tasks: [{ id: "a", run: () => 1 }] });
    assert.equal((await engine.run(wf)).status, "completed");
  } finally {
    stop();
    await engine.close();
  }
});
