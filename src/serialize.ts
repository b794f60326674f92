/**
 * Errors as data: what crosses a worker boundary and stands in events keeps
 * `name`, `message`, `stack`, `cause` and own fields.
 *
 * @module
 */
import type { ErrorData } from "./types.ts";

/** Makes an `Error` of any thrown value. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === "string" ? value : `Non-error value thrown: ${safeString(value)}`, {
    cause: value,
  });
}

/**
 * The JSON-ready form of an error: name, message, stack, cause and own fields.
 *
 * @param error Any value.
 * @returns Its serialized form.
 */
export function serializeError(error: unknown, depth = 0): ErrorData {
  if (!(error instanceof Error)) return { name: "Error", message: safeString(error) };
  const data: ErrorData = { name: error.name, message: error.message };
  if (error.stack !== undefined) data.stack = error.stack;
  if (error.cause !== undefined) {
    data.cause = depth < 4 && error.cause instanceof Error
      ? serializeError(error.cause, depth + 1)
      : jsonSafe(error.cause);
  }
  for (const key of Object.keys(error)) {
    if (key === "cause" || key in data) continue;
    data[key] = jsonSafe((error as unknown as Record<string, unknown>)[key]);
  }
  return data;
}

function jsonSafe(value: unknown): unknown {
  if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return value;
  }
  try {
    return JSON.parse(JSON.stringify(value));
  } catch {
    return safeString(value);
  }
}

function safeString(value: unknown): string {
  try {
    return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

const BUILTIN_ERRORS: Record<string, ErrorConstructor> = {
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/**
 * Rebuilds an `Error` from its serialized form: same name, message, stack,
 * cause and own fields (built-in error classes keep their class; others become an `Error` with their name).
 *
 * @param data A serialized error.
 * @returns The error.
 */
export function deserializeError(data: ErrorData, depth = 0): Error {
  const cause = data.cause !== null && typeof data.cause === "object" && depth < 4 && "message" in data.cause
    ? deserializeError(data.cause as ErrorData, depth + 1)
    : data.cause;
  const Ctor = BUILTIN_ERRORS[data.name] ?? Error;
  const error = new Ctor(data.message, cause === undefined ? undefined : { cause });
  for (const [key, value] of Object.entries(data)) {
    if (key === "message" || key === "cause") continue;
    Object.defineProperty(error, key, {
      value,
      writable: true,
      configurable: true,
      enumerable: key !== "stack" && key !== "name",
    });
  }
  return error;
}
