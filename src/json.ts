/**
 * JSON data checks and stable encoding: what a durable store may keep, and
 * the stable text and hash of a cache key.
 *
 * @module
 */

/** Where a value stops being JSON data, and what is there. */
export interface JsonIssue {
  /** The path from `$`, e.g. `$.items[2].when`. */
  path: string;
  /** What is there, e.g. `a Date`, `a function`, `NaN`, `a cycle`. */
  what: string;
}

/**
 * Finds the first part of a value that is not JSON data (plain objects,
 * arrays, strings, finite numbers, booleans, null). `undefined` is accepted
 * as the whole value and as an object field (both are dropped by JSON), not
 * as an array element.
 *
 * @param value Any value.
 * @returns The first issue, or `undefined` when the value is JSON data.
 *
 * @example Checking a result before storing it
 * ```ts
 * import { findJsonIssue } from "@nerv/flow/extend";
 * import assert from "node:assert/strict";
 * assert.equal(findJsonIssue({ ok: [1, "two", null] }), undefined);
 * assert.deepEqual(findJsonIssue({ items: [{ when: new Date(0) }] }), { path: "$.items[0].when", what: "a Date" });
 * ```
 */
export function findJsonIssue(value: unknown): JsonIssue | undefined {
  if (value === undefined) return undefined;
  return walk(value, "$", []);
}

function walk(value: unknown, path: string, ancestors: object[]): JsonIssue | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : { path, what: String(value) };
    case "undefined":
      return { path, what: "undefined" };
    case "bigint":
      return { path, what: "a bigint" };
    case "symbol":
      return { path, what: "a symbol" };
    case "function":
      return { path, what: "a function" };
  }
  if (value === null) return undefined;
  const object = value as object;
  if (ancestors.includes(object)) return { path, what: "a cycle" };
  if (Array.isArray(object)) {
    ancestors.push(object);
    for (let i = 0; i < object.length; i++) {
      const issue = walk(object[i], `${path}[${i}]`, ancestors);
      if (issue !== undefined) return issue;
    }
    ancestors.pop();
    return undefined;
  }
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) {
    const name = (proto?.constructor as { name?: string } | undefined)?.name;
    return { path, what: name ? `a ${name}` : "an object that is not plain" };
  }
  ancestors.push(object);
  for (const key of Object.keys(object)) {
    const field = (object as Record<string, unknown>)[key];
    if (field === undefined) continue;
    const issue = walk(
      field,
      `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`,
      ancestors,
    );
    if (issue !== undefined) return issue;
  }
  ancestors.pop();
  return undefined;
}

/**
 * JSON text of a value with object keys sorted, so equal data gives equal text.
 *
 * @param value JSON data.
 * @returns The text (`undefined` gives `null`).
 * @throws {TypeError} The value is not JSON data (check with {@linkcode findJsonIssue} first).
 */
export function stableStringify(value: unknown): string {
  if (value === undefined) return "null";
  const issue = findJsonIssue(value);
  if (issue !== undefined) throw new TypeError(`Cannot encode value: ${issue.path} is ${issue.what}`);
  return encode(value);
}

function encode(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(encode).join(",")}]`;
  const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${encode((value as Record<string, unknown>)[k])}`).join(",")}}`;
}

/**
 * SHA-256 of a text, as hex (Web Crypto, so it runs on every runtime).
 *
 * @param text The text.
 * @returns 64 hex digits.
 */
export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  let out = "";
  for (const b of digest) out += b.toString(16).padStart(2, "0");
  return out;
}
