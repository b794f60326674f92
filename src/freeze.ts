/**
 * Deep freezing: how the engine keeps its history from changing after the
 * fact. A task's result and a run's input are frozen when they are recorded,
 * the built-in projections when computed, and each event where it leaves the
 * engine's hands (the bus, log readers, a store the log did not make), so a
 * dependent, a listener or a caller that tries to change them gets a
 * `TypeError` (in strict code) and every later reader sees what was recorded. Chosen by measurement over copies at hand-out and Immutable
 * structures (see `bench/immutability.ts` and `bench/RESULTS.md`): a value is
 * frozen once, in O(its size), and read for free any number of times.
 *
 * @module
 */

/**
 * Freezes a value and everything it holds: arrays and plain objects, to any
 * depth. Other objects (class instances, `Date`, `Map`, typed arrays,
 * Immutable.js collections) are left as they are, and an object already
 * frozen is taken as immutable (its members are not visited), which also
 * ends cycles.
 *
 * @param value Any value.
 * @returns The same value, frozen.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) freezeObject(value);
  return value;
}

function freezeObject(o: object): void {
  if (Object.isFrozen(o)) return;
  if (Array.isArray(o)) {
    Object.freeze(o);
    for (let i = 0; i < o.length; i++) {
      const v = o[i];
      if (typeof v === "object" && v !== null) freezeObject(v);
    }
    return;
  }
  const proto = Object.getPrototypeOf(o);
  if (proto !== Object.prototype && proto !== null) return;
  Object.freeze(o);
  for (const k in o) {
    const v = (o as Record<string, unknown>)[k];
    if (typeof v === "object" && v !== null) freezeObject(v);
  }
}
