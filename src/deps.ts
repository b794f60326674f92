// The one place that names npm packages. Every source file imports them from
// here by full `npm:` specifier, so the package also works when imported by
// URL, where the importer has no import map.
import "npm:reflect-metadata@^0.2.2";

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
export { is, List, Map as IMap, Record as IRecord } from "npm:immutable@^5.1.4";
export { createNanoEvents, type Emitter } from "npm:nanoevents@^9.1.0";
export { container as rootContainer, type DependencyContainer, instanceCachingFactory } from "npm:tsyringe@^4.10.0";
export { expose, type Remote, transfer, type TransferHandler, transferHandlers, wrap } from "./deps_comlink.ts";
