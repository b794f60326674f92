/**
 * Readable views of a run's actors, for a debugger session: the workflow
 * actor's state and each live task actor's state as plain objects (no
 * actor refs, no hosts, no cycles), so `handle.actors()` prints well in
 * `deno run --inspect` and in `console.log`.
 *
 * @module
 */
import type { AnyActorRef } from "./deps.ts";
import type { LogState } from "./log/types.ts";
import type { ErrorData, Priority, Profile, TaskSpec, TaskStatus } from "./types.ts";

/** One actor, as `RunHandle.actors()` shows it. */
export interface ActorView {
  /** The actor's id: `workflow:<runId>` for the workflow actor, the task id for a task actor. */
  id: string;
  /** The machine's current state, e.g. `running` or `retrying`. */
  state: string;
  /** XState's actor status: `active`, `done`, `error` or `stopped`. */
  status: string;
}

/** A live task actor, with what the run knows of its task. */
export interface TaskActorView extends ActorView {
  /** The task's status in the log (may trail the actor's state within a batch). */
  logStatus: TaskStatus;
  /** Attempts started so far. */
  attempts: number;
  /** The task's profile. */
  profile: Profile;
  /** The task's priority. */
  priority: Priority;
  /** Its dependencies. */
  dependsOn: readonly string[];
  /** When its first attempt started (clock ms). */
  startedAt?: number;
  /** The last attempt's error, when retrying. */
  error?: ErrorData;
}

/** What `RunHandle.actors()` returns. */
export interface RunActors {
  /** The run id. */
  runId: string;
  /** The workflow id. */
  workflowId: string;
  /** The workflow actor. */
  workflow: ActorView;
  /**
   * The task actors alive now, in task order. A task actor exists only while
   * it matters: it is created when its dependencies settle and dropped when
   * it ends, so finished and still-waiting tasks have none (read them from
   * `RunHandle.snapshot()`).
   */
  tasks: TaskActorView[];
  /** Tasks per status, from the log. */
  counts: Record<TaskStatus, number>;
}

/**
 * An XState inspection observer: what `@statelyai/inspect`'s `inspector.inspect` is.
 */
export interface ActorInspectionObserver<E> {
  /**
   * Receives each inspection event.
   *
   * @param event The event.
   */
  next?(event: E): void;
  /**
   * Receives an error.
   *
   * @param error The error.
   */
  error?(error: unknown): void;
  /** Called when the inspected system completes. */
  complete?(): void;
}

/** What {@linkcode actorsOf} reads from a run. */
export interface InspectableRun {
  readonly id: string;
  readonly workflowId: string;
  readonly actor: AnyActorRef;
  /**
   * A task's spec by index, including tasks added during the run.
   *
   * @param index The task's index.
   * @returns Its spec.
   */
  taskSpec(index: number): TaskSpec<unknown>;
  liveActors(): Iterable<[index: number, actor: AnyActorRef]>;
}

/**
 * Plain views of a run's actors now.
 *
 * @param run The run.
 * @param state The log's current state.
 * @returns The views.
 */
export function actorsOf(run: InspectableRun, state: LogState): RunActors {
  const views = state.project("tasks", run.id);
  const tasks: TaskActorView[] = [];
  for (const [i, actor] of run.liveActors()) {
    const spec = run.taskSpec(i);
    const view = views[spec.id];
    const snap = actor.getSnapshot() as { value?: unknown; status?: string };
    const t: TaskActorView = {
      id: spec.id,
      state: String(snap.value),
      status: String(snap.status),
      logStatus: view?.status ?? "pending",
      attempts: view?.attempts ?? 0,
      profile: spec.profile,
      priority: spec.priority,
      dependsOn: spec.dependsOn,
    };
    if (view?.startedAt !== undefined) t.startedAt = view.startedAt;
    if (view?.error !== undefined && view.status === "retrying") t.error = view.error;
    tasks.push(t);
  }
  const snap = run.actor.getSnapshot() as { value?: unknown; status?: string };
  return {
    runId: run.id,
    workflowId: run.workflowId,
    workflow: { id: run.actor.id, state: String(snap.value), status: String(snap.status) },
    tasks,
    counts: { ...state.project("workflowStatus", run.id).counts },
  };
}
