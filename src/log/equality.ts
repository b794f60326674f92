/**
 * Value equality for the log's state: what lets a state rebuilt by replay or
 * from a JSON export compare equal to the original.
 *
 * @module
 */
import { is } from "../deps.ts";

/**
 * Value equality for what events carry: Immutable values by `is`, arrays and
 * plain objects member by member, anything else by identity. A state
 * rebuilt from a JSON export thus equals the original.
 */
export function deepEqual(a: unknown, b: unknown, depth = 0): boolean {
  if (is(a, b)) return true;
  if (depth > 64 || a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i], depth + 1)) return false;
    return true;
  }
  if (!isPlain(a) || !isPlain(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (
      !Object.hasOwn(b, k) ||
      !deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], depth + 1)
    ) {
      return false;
    }
  }
  return true;
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A plain value held in an Immutable record, compared by {@linkcode deepEqual}. */
export class Deep<T> {
  readonly value: T;
  constructor(value: T) {
    this.value = value;
    Object.freeze(this);
  }
  equals(other: unknown): boolean {
    return other instanceof Deep && deepEqual(this.value, other.value);
  }
  hashCode(): number {
    return 0;
  }
}

const DEEP_UNDEFINED = new Deep(undefined);
/**
 * A `Deep` of a value: one shared instance for `undefined` (a run with no input would otherwise keep one of its own).
 *
 * @param value The value.
 * @returns Its `Deep`.
 */
export function deep<T>(value: T): Deep<T> {
  return value === undefined ? DEEP_UNDEFINED as Deep<T> : new Deep(value);
}
