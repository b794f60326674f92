/**
 * Scale out through NATS JetStream: {@linkcode natsExecutor} sends task
 * bodies to worker processes on any host, {@linkcode serveTasks} (or
 * `deno task worker`) is such a worker process. The same workflow runs
 * unchanged; pick the executor per profile:
 *
 * ```ts ignore
 * const cpu = await natsExecutor({ servers: "nats://127.0.0.1:4222" });
 * const engine = createEngine({ executors: { cpu }, limits: { cpu: 64 } });
 * ```
 *
 * @module
 */
export { type NatsConnectOptions, NatsUnreachableError, type OpenConnection } from "./connect.ts";
export { BrokerUnavailableError, LogConflictError, RunReleasedError, TaskDeliveryError } from "./errors.ts";
export { type NatsExecutor, natsExecutor, type NatsExecutorOptions } from "./executor.ts";
export { serveTasks, type ServeTasksOptions, type TaskServer } from "./worker.ts";
export {
  type CoordinatedRun,
  type CoordinatedRunHandle,
  type Coordinator,
  type CoordinatorEvent,
  type CoordinatorOptions,
  createCoordinator,
  LeaseLostError,
} from "./coordinator.ts";
export { type JetStreamLogStore, jetstreamLogStore, type JetStreamLogStoreOptions, runToken } from "./log_store.ts";
export { type JetStreamTaskCache, jetstreamTaskCache, type JetStreamTaskCacheOptions } from "./task_cache.ts";
