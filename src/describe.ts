/**
 * How an error message names a value: a string quoted, anything else by its
 * kind or its `String()` form, so that a message never prints a function's
 * source or an object's contents.
 *
 * @module
 */

/**
 * A short, quoted description of a value for error messages.
 *
 * @param value Any value.
 * @returns `"text"` for a string; "a function", "an array", "null" or "an object"; else `String(value)`.
 */
export function describe(value: unknown): string {
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return String(value);
}
