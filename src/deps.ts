// The one place that names npm packages. Every source file imports them from
// here by full `npm:` specifier, so the package also works when imported by
// URL, where the importer has no import map.
import type { DependencyContainer } from "npm:tsyringe@^4.10.0";
// tsyringe's container module alone: its index demands a Reflect metadata polyfill at load, for decorators,
// which nerv-flow does not use (tokens and factories only), so reflect-metadata (13.9 KB minified) stays out.
import { instance } from "npm:tsyringe@^4.10.0/dist/cjs/dependency-container.js";
import * as caching from "npm:tsyringe@^4.10.0/dist/cjs/factories/instance-caching-factory.js";

export {
  type ActorLogic,
  type AnyActorLogic,
  type AnyActorRef,
  type AnyStateMachine,
  assign,
  createActor,
  type InspectionEvent,
  type Observer,
  setup,
  type Snapshot,
} from "npm:xstate@^5.33.3";
export { createStore, type Store } from "npm:@xstate/store@^3.17.5";
export { is, List, Map as IMap, OrderedMap } from "npm:immutable@^5.1.4";
export { createNanoEvents, type Emitter } from "npm:nanoevents@^9.1.0";
export type { DependencyContainer };
/** tsyringe's root container (each engine makes a child of it). */
export const rootContainer: DependencyContainer = instance as DependencyContainer;
type CachingFactory = <T>(factory: (c: DependencyContainer) => T) => (c: DependencyContainer) => T;
/** tsyringe's factory that caches its value per registration (one component per engine); a CommonJS default export. */
export const instanceCachingFactory: CachingFactory =
  ((m: { default: unknown }) =>
    (typeof m.default === "function" ? m.default : (m.default as { default: unknown }).default) as CachingFactory)(
      caching as unknown as { default: unknown },
    );
export { expose, type Remote, transfer, type TransferHandler, transferHandlers, wrap } from "./deps_comlink.ts";
