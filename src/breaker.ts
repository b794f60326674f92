/**
 * Circuit breakers: tasks that share a key (calls to one service) share a
 * breaker. It opens after `threshold` failed attempts within `windowMs`;
 * while open, its tasks fail fast with `CircuitOpenError` (or take their
 * fallback) without running; after `cooldownMs` it lets one trial through
 * (half-open): the trial's success closes it, its failure opens it again.
 * Breakers live in the engine, so they span runs; time is the engine's clock.
 *
 * @module
 */
import { describe } from "./describe.ts";
import type { BreakerPolicy } from "./types.ts";

/** A breaker's state. */
export type BreakerState = "closed" | "open" | "half-open";

/** A policy with every field resolved. */
export type ResolvedBreakerPolicy = Readonly<Required<BreakerPolicy>>;

/** What `request()` decided. */
export interface BreakerVerdict {
  /** The attempt may run. */
  allowed: boolean;
  /** The attempt is the half-open trial. */
  trial: boolean;
  /** When refused: milliseconds until a trial is let through. */
  retryAfterMs: number;
  /** The breaker went from open to half-open on this request. */
  halfOpened: boolean;
}

const DEFAULTS = { threshold: 5, windowMs: 60_000, cooldownMs: 30_000 } as const;

/**
 * Resolves and checks a breaker policy.
 *
 * @param where The message prefix (which task or option).
 * @param policy The policy.
 * @returns The policy with defaults.
 * @throws {TypeError} Not an object, or the key is not a non-empty string.
 * @throws {RangeError} A number is out of range.
 */
export function resolveBreaker(where: string, policy: BreakerPolicy): ResolvedBreakerPolicy {
  if (policy === null || typeof policy !== "object") {
    throw new TypeError(`${where} has "breaker" ${describe(policy)}, expected an object`);
  }
  if (typeof policy.key !== "string" || policy.key.length === 0) {
    throw new TypeError(`${where} has breaker.key ${describe(policy.key)}, expected a non-empty string`);
  }
  const threshold = policy.threshold ?? DEFAULTS.threshold;
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new RangeError(`${where} has breaker.threshold ${describe(threshold)}, expected an integer >= 1`);
  }
  const windowMs = policy.windowMs ?? DEFAULTS.windowMs;
  const cooldownMs = policy.cooldownMs ?? DEFAULTS.cooldownMs;
  for (const [field, value] of [["windowMs", windowMs], ["cooldownMs", cooldownMs]] as const) {
    if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
      throw new RangeError(`${where} has breaker.${field} ${describe(value)}, expected a finite number > 0`);
    }
  }
  return Object.freeze({ key: policy.key, threshold, windowMs, cooldownMs });
}

/** One breaker: a small state machine over the failures it saw. */
export class CircuitBreaker {
  /** Its policy. */
  readonly policy: ResolvedBreakerPolicy;
  #state: BreakerState = "closed";
  /** Times of the failures within the window (closed state), oldest first. */
  #failures: number[] = [];
  #openedAt = 0;
  #trialOut = false;

  /**
   * Creates a closed breaker.
   *
   * @param policy Its resolved policy.
   */
  constructor(policy: ResolvedBreakerPolicy) {
    this.policy = policy;
  }

  /** Its state now (a cooled-down open breaker reports `open` until a request half-opens it). */
  get state(): BreakerState {
    return this.#state;
  }

  /**
   * Asks whether an attempt may run now.
   *
   * @param now Clock time.
   * @returns The verdict.
   */
  request(now: number): BreakerVerdict {
    if (this.#state === "closed") return { allowed: true, trial: false, retryAfterMs: 0, halfOpened: false };
    let halfOpened = false;
    if (this.#state === "open") {
      const due = this.#openedAt + this.policy.cooldownMs;
      if (now < due) return { allowed: false, trial: false, retryAfterMs: due - now, halfOpened: false };
      this.#state = "half-open";
      this.#trialOut = false;
      halfOpened = true;
    }
    if (this.#trialOut) return { allowed: false, trial: false, retryAfterMs: 0, halfOpened };
    this.#trialOut = true;
    return { allowed: true, trial: true, retryAfterMs: 0, halfOpened };
  }

  /**
   * Records a successful attempt.
   *
   * @param trial Whether it was the half-open trial.
   * @returns `true` when the breaker closed.
   */
  success(trial: boolean): boolean {
    if (!trial || this.#state !== "half-open") return false;
    this.#state = "closed";
    this.#failures = [];
    this.#trialOut = false;
    return true;
  }

  /**
   * Records a failed attempt.
   *
   * @param now Clock time.
   * @param trial Whether it was the half-open trial.
   * @returns `true` when the breaker opened.
   */
  failure(now: number, trial: boolean): boolean {
    if (this.#state === "half-open") {
      if (!trial) return false;
      return this.#open(now);
    }
    if (this.#state === "open") return false;
    const failures = this.#failures;
    failures.push(now);
    const since = now - this.policy.windowMs;
    let drop = 0;
    while (drop < failures.length && failures[drop] <= since) drop++;
    if (drop > 0) failures.splice(0, drop);
    return failures.length >= this.policy.threshold ? this.#open(now) : false;
  }

  /** The half-open trial ended without an outcome (cancelled): let another through. */
  abandon(): void {
    if (this.#state === "half-open") this.#trialOut = false;
  }

  #open(now: number): boolean {
    this.#state = "open";
    this.#openedAt = now;
    this.#failures = [];
    this.#trialOut = false;
    return true;
  }
}

/** The engine's breakers by key. */
export class BreakerRegistry {
  readonly #byKey = new Map<string, CircuitBreaker>();

  /**
   * Creates the registry with the engine-level breakers.
   *
   * @param policies Breaker policies by key.
   * @throws {TypeError} A policy is malformed.
   * @throws {RangeError} A number is out of range.
   */
  constructor(policies: Readonly<Record<string, Omit<BreakerPolicy, "key">>> = {}) {
    for (const [key, policy] of Object.entries(policies)) {
      const resolved = resolveBreaker(`Cannot create engine: breakers["${key}"]`, { ...policy, key });
      this.#byKey.set(key, new CircuitBreaker(resolved));
    }
  }

  /**
   * The breaker of a key: the engine-level one, else the one made for the
   * first task that named the key (its policy holds for later tasks).
   *
   * @param policy The task's resolved policy.
   * @returns The breaker.
   */
  get(policy: ResolvedBreakerPolicy): CircuitBreaker {
    let breaker = this.#byKey.get(policy.key);
    if (breaker === undefined) {
      breaker = new CircuitBreaker(policy);
      this.#byKey.set(policy.key, breaker);
    }
    return breaker;
  }

  /**
   * The breaker of an engine-level key.
   *
   * @param key The key.
   * @returns The breaker, or `undefined`.
   */
  byKey(key: string): CircuitBreaker | undefined {
    return this.#byKey.get(key);
  }

  /**
   * A breaker's state, by key.
   *
   * @param key The key.
   * @returns Its state, or `undefined` when no task or option named it.
   */
  state(key: string): BreakerState | undefined {
    return this.#byKey.get(key)?.state;
  }
}
