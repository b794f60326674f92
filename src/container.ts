/**
 * Wiring: a tsyringe container per engine, with tokens and factories (no
 * decorators, so no decorator metadata is needed). Register a token in
 * `createEngine({ configure })` to replace a component.
 *
 * @module
 */
import { type DependencyContainer, instanceCachingFactory, rootContainer } from "./deps.ts";
import type { EventBus } from "./bus.ts";
import type { SnapshotLog } from "./log/types.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Clock, Executor, LogStore, Profile, TaskCache } from "./types.ts";

/** A typed injection token. */
export type Token<T> = symbol & { readonly __type?: T };

function token<T>(name: string): Token<T> {
  return Symbol.for(`nerv-flow.${name}`) as Token<T>;
}

/** The components an engine resolves; register one to replace it. */
export const TOKENS: {
  readonly clock: Token<Clock>;
  readonly bus: Token<EventBus>;
  readonly logStore: Token<LogStore | undefined>;
  readonly log: Token<SnapshotLog>;
  readonly executors: Token<Readonly<Record<Profile, Executor>>>;
  readonly scheduler: Token<Scheduler>;
  readonly random: Token<() => number>;
  readonly cache: Token<TaskCache>;
} = Object.freeze({
  clock: token<Clock>("clock"),
  bus: token<EventBus>("bus"),
  logStore: token<LogStore | undefined>("logStore"),
  log: token<SnapshotLog>("log"),
  executors: token<Readonly<Record<Profile, Executor>>>("executors"),
  scheduler: token<Scheduler>("scheduler"),
  random: token<() => number>("random"),
  cache: token<TaskCache>("cache"),
});

/** How a component is provided: a value, or a factory called once per engine. */
export type Provider<T> = { useValue: T } | { useFactory: (container: EngineContainer) => T };

/** The engine's container, as users see it. */
export interface EngineContainer {
  /**
   * Provides a component, replacing any earlier provider of the token.
   *
   * @param token Which component.
   * @param provider A value or a factory.
   */
  register<T>(token: Token<T>, provider: Provider<T>): void;
  /**
   * Resolves a component.
   *
   * @param token Which component.
   * @returns The component (a factory's result is cached per engine).
   */
  resolve<T>(token: Token<T>): T;
}

/**
 * Creates an engine container: a child of tsyringe's root container, so
 * engines never share registrations.
 *
 * @returns The container.
 */
export function createContainer(): EngineContainer {
  const c: DependencyContainer = rootContainer.createChildContainer();
  const api: EngineContainer = {
    register<T>(token: Token<T>, provider: Provider<T>) {
      if ("useValue" in provider) {
        c.register<T>(token, { useValue: provider.useValue });
      } else if (typeof provider?.useFactory === "function") {
        // tsyringe caches the factory's value for this container (one instance per engine).
        c.register<T>(token, { useFactory: instanceCachingFactory<T>(() => provider.useFactory(api)) });
      } else {
        throw new TypeError(`Cannot register ${token.description}: expected { useValue } or { useFactory }`);
      }
    },
    resolve<T>(token: Token<T>): T {
      return c.resolve<T>(token);
    },
  };
  return api;
}
