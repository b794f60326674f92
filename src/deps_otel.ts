// The OpenTelemetry API, by full `npm:` specifier (see deps.ts). Without a
// registered SDK (or Deno's built-in exporter, OTEL_DENO=true) every call is a no-op.
export {
  type Attributes,
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  type SpanStatus,
  SpanStatusCode,
  type TimeInput,
  trace,
  type Tracer,
  type TracerProvider,
} from "npm:@opentelemetry/api@^1.9.0";
