/**
 * Executes a flat XState machine definition (no nested, parallel or history
 * states; named guards and actions; `always`; final states) as a plain XState
 * `ActorLogic`, without the general statechart algorithm.
 *
 * The result is a real XState actor logic: `createActor` runs it, actions go
 * through the actor's action executor (so inspection sees them) unless the
 * caller knows nothing inspects the actor, a final state makes the actor done
 * and notifies its parent. What it drops is the generality a flat machine does
 * not use, which is where XState spends most of a transition: measured here,
 * create + start + two events cost ~25 µs interpreted and ~4 µs compiled.
 *
 * @module
 */
import type { ActorLogic, AnyStateMachine, Snapshot } from "../src/deps.ts";

type Fn = (args: unknown, params: unknown) => unknown;

interface CompiledTransition {
  guard: Fn | undefined;
  target: CompiledState | undefined;
  actions: readonly [string, Fn][];
}

interface CompiledState {
  name: string;
  final: boolean;
  entry: readonly [string, Fn][];
  exit: readonly [string, Fn][];
  always: readonly CompiledTransition[];
  on: ReadonlyMap<string, readonly CompiledTransition[]>;
}

/**
 * The snapshot of a compiled flat machine: XState's snapshot fields plus
 * `value` (the current state's name) and `context`.
 */
export type FlatSnapshot<C> = Snapshot<undefined> & { value: string; context: C };

/** What an action gets: the machine's context, the event, the actor and its system. */
interface ActionArgs<C> {
  context: C;
  event: unknown;
  self: unknown;
  system: unknown;
}

interface Scope {
  self: unknown;
  system: unknown;
  actionExecutor(action: { type: string; info: unknown; params: unknown; exec: Fn }): void;
}

/** Options of {@linkcode compileFlatMachine}. */
export interface FlatMachineOptions {
  /**
   * How a started actor's actions run: through the actor's action executor
   * (`"executor"`), which sends XState's `@xstate.action` inspection event for
   * each and so builds that event and a closure per action (~240 bytes), or
   * called by the logic itself (`"direct"`), in the same order and with the
   * same arguments, an action's throw failing the actor the same way. Choose
   * `"direct"` only for actors that no inspector observes and that run under
   * `createActor` (XState's pure `transition()` collects the actions it is
   * given instead of running them). Actions before the actor starts (the
   * initial state's) go through the executor either way, which defers them
   * to the start.
   * @default {"executor"}
   */
  actions?: "executor" | "direct";
}

const ALLOWED_STATE_KEYS = new Set(["type", "entry", "exit", "always", "on"]);
const ALLOWED_TRANSITION_KEYS = new Set(["target", "guard", "actions"]);

/**
 * Compiles a flat machine into an XState actor logic with the same behaviour.
 *
 * @param machine A machine from `setup(...).createMachine(...)` whose states
 *   are flat, whose guards and actions are named, and whose context is a function of `input`.
 * @param options How started actors run their actions.
 * @returns The actor logic, for `createActor`.
 * @throws {TypeError} The machine uses something this compiler does not
 *   support (the message names the state and key); use XState's interpreter for it.
 */
export function compileFlatMachine<C, E extends { type: string }, I>(
  machine: AnyStateMachine,
  options: FlatMachineOptions = {},
): ActorLogic<FlatSnapshot<C>, E, I> {
  const mode = options.actions ?? "executor";
  const config = machine.config as {
    id?: string;
    initial: string;
    context: (args: { input: I }) => C;
    states: Record<string, Record<string, unknown>>;
  };
  const impl = machine.implementations as { guards: Record<string, Fn>; actions: Record<string, Fn> };
  const where = `Cannot compile machine "${config.id ?? "(anonymous)"}"`;
  if (typeof config.context !== "function") throw new TypeError(`${where}: context must be a function of input`);
  if (mode !== "executor" && mode !== "direct") {
    throw new TypeError(`${where}: actions must be "executor" or "direct", got ${String(mode)}`);
  }
  const states = new Map<string, CompiledState>();
  for (const name of Object.keys(config.states)) {
    states.set(name, { name, final: false, entry: [], exit: [], always: [], on: new Map() });
  }
  const actionList = (state: string, value: unknown): [string, Fn][] => {
    if (value === undefined) return [];
    const names = Array.isArray(value) ? value : [value];
    return names.map((name) => {
      if (typeof name !== "string" || typeof impl.actions[name] !== "function") {
        throw new TypeError(`${where}: state "${state}" uses an action that is not a named implementation`);
      }
      return [name, impl.actions[name]];
    });
  };
  const transitions = (state: string, value: unknown): CompiledTransition[] => {
    const list = Array.isArray(value) ? value : [value];
    return list.map((t) => {
      const def = typeof t === "string" ? { target: t } : t as Record<string, unknown>;
      for (const key of Object.keys(def)) {
        if (!ALLOWED_TRANSITION_KEYS.has(key)) {
          throw new TypeError(`${where}: state "${state}" uses "${key}" in a transition`);
        }
      }
      let guard: Fn | undefined;
      if (def.guard !== undefined) {
        if (typeof def.guard !== "string" || typeof impl.guards[def.guard] !== "function") {
          throw new TypeError(`${where}: state "${state}" uses a guard that is not a named implementation`);
        }
        guard = impl.guards[def.guard];
      }
      let target: CompiledState | undefined;
      if (def.target !== undefined) {
        target = states.get(def.target as string);
        if (target === undefined) {
          throw new TypeError(`${where}: state "${state}" targets unknown state ${String(def.target)}`);
        }
      }
      return { guard, target, actions: actionList(state, def.actions) };
    });
  };
  for (const [name, def] of Object.entries(config.states)) {
    for (const key of Object.keys(def)) {
      if (!ALLOWED_STATE_KEYS.has(key)) throw new TypeError(`${where}: state "${name}" uses "${key}"`);
    }
    const s = states.get(name)! as {
      -readonly [K in keyof CompiledState]: CompiledState[K];
    };
    s.final = def.type === "final";
    if (def.type !== undefined && def.type !== "final" && def.type !== "atomic") {
      throw new TypeError(`${where}: state "${name}" has type "${String(def.type)}"`);
    }
    s.entry = actionList(name, def.entry);
    s.exit = actionList(name, def.exit);
    s.always = def.always === undefined ? [] : transitions(name, def.always);
    const on = new Map<string, CompiledTransition[]>();
    for (const [type, t] of Object.entries((def.on ?? {}) as Record<string, unknown>)) {
      on.set(type, transitions(name, t));
    }
    s.on = on;
  }
  const initial = states.get(config.initial);
  if (initial === undefined) throw new TypeError(`${where}: unknown initial state "${config.initial}"`);

  // The actions of one step share one argument object, and the guards of one choice another (XState makes one per
  // call): built-in guards and actions only read them, and this saves a few objects per transition.
  const execute = (actions: readonly [string, Fn][], info: ActionArgs<C>, scope: Scope) => {
    for (let k = 0; k < actions.length; k++) {
      const [type, exec] = actions[k];
      scope.actionExecutor({ type, info, params: undefined, exec });
    }
  };
  const call = (actions: readonly [string, Fn][], info: ActionArgs<C>) => {
    for (let k = 0; k < actions.length; k++) actions[k][1](info, undefined);
  };
  /** Runs actions of a started actor (`transition` is only called on one). */
  const run = mode === "direct" ? call : execute;
  const select = (list: readonly CompiledTransition[], context: C, event: unknown) => {
    let args: { context: C; event: unknown } | undefined;
    for (let k = 0; k < list.length; k++) {
      const t = list[k];
      if (t.guard === undefined || t.guard(args ??= { context, event }, undefined)) return t;
    }
    return undefined;
  };
  /** Takes `t` from `from`, then eventless transitions until none is enabled. */
  const take = (
    from: CompiledState,
    t: CompiledTransition,
    context: C,
    event: unknown,
    scope: Scope,
    run: typeof execute,
  ): CompiledState => {
    let state = from;
    let next: CompiledTransition | undefined = t;
    const info: ActionArgs<C> = { context, event, self: scope.self, system: scope.system };
    for (let steps = 0; next !== undefined; steps++) {
      if (steps > 100) throw new Error(`${where}: more than 100 eventless transitions in a row from "${from.name}"`);
      if (next.target === undefined) {
        run(next.actions, info, scope);
        break;
      }
      run(state.exit, info, scope);
      run(next.actions, info, scope);
      state = next.target;
      run(state.entry, info, scope);
      if (state.final) break;
      next = select(state.always, context, event);
    }
    return state;
  };
  const snapshotOf = (state: CompiledState, context: C): FlatSnapshot<C> =>
    ({
      status: state.final ? "done" : "active",
      value: state.name,
      context,
      output: undefined,
      error: undefined,
    }) as FlatSnapshot<C>;

  return {
    config: machine,
    transition(snapshot, event, scope) {
      if (snapshot.status !== "active") return snapshot;
      const state = states.get(snapshot.value);
      if (state === undefined) return snapshot;
      const list = state.on.get(event.type);
      if (list === undefined) return snapshot;
      const t = select(list, snapshot.context, event);
      if (t === undefined) return snapshot;
      const next = take(state, t, snapshot.context, event, scope as unknown as Scope, run);
      return next === state && t.target === undefined ? snapshot : snapshotOf(next, snapshot.context);
    },
    getInitialSnapshot(scope, input) {
      const context = config.context({ input: input as I });
      const initEvent = { type: "xstate.init", input };
      const s = scope as unknown as Scope;
      // Not started yet: the executor defers these actions to the start.
      if (initial.entry.length > 0) {
        execute(initial.entry, { context, event: initEvent, self: s.self, system: s.system }, s);
      }
      let state = initial;
      if (!state.final) {
        const t = select(state.always, context, initEvent);
        if (t !== undefined) state = take(state, t, context, initEvent, s, execute);
      }
      return snapshotOf(state, context);
    },
    getPersistedSnapshot(snapshot) {
      return { status: snapshot.status, value: snapshot.value, output: undefined, error: undefined } as never;
    },
  } as ActorLogic<FlatSnapshot<C>, E, I>;
}
