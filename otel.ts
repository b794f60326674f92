/**
 * OpenTelemetry for nerv-flow (`@nerv/flow/otel`): {@linkcode instrument}
 * traces an engine's runs through `@opentelemetry/api`, a span per run and a
 * child span per task attempt. It is its own entry point so that engines that
 * do not trace (edge bundles among them) do not carry the OpenTelemetry API.
 *
 * @example Tracing an engine
 * ```ts
 * import { createEngine } from "@nerv/flow";
 * import { instrument } from "@nerv/flow/otel";
 * const engine = createEngine();
 * const stop = instrument(engine); // with no tracer provider registered, a no-op
 * stop();
 * await engine.close();
 * ```
 *
 * @module
 */
export { instrument, type InstrumentOptions, SPAN_ATTRIBUTES, TRACER_NAME } from "./src/otel.ts";
