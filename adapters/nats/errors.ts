/**
 * Conditions of the NATS adapter that a caller handles.
 *
 * @module
 */

/**
 * A task's message was delivered to workers `deliveries` times without a
 * result (each time a worker died or was cut off holding it): the task
 * fails with this error and the message moves to the dead-letter subject.
 */
export class TaskDeliveryError extends Error {
  /** The task. */
  readonly taskId: string;
  /** Its attempt. */
  readonly attempt: number;
  /** Deliveries of its message. */
  readonly deliveries: number;
  /** Where the message went. */
  readonly deadLetterSubject: string;
  /**
   * Creates the error.
   *
   * @param taskId The task.
   * @param attempt Its attempt.
   * @param deliveries Deliveries of its message.
   * @param deadLetterSubject Where the message went.
   */
  constructor(taskId: string, attempt: number, deliveries: number, deadLetterSubject: string) {
    super(
      `Task "${taskId}" (attempt ${attempt}) was delivered to workers ${deliveries} times without a result; ` +
        `its message moved to "${deadLetterSubject}"`,
    );
    this.name = "TaskDeliveryError";
    this.taskId = taskId;
    this.attempt = attempt;
    this.deliveries = deliveries;
    this.deadLetterSubject = deadLetterSubject;
  }
}

/**
 * The broker was out of reach longer than the executor waits
 * (`brokerTimeoutMs`) while the task was sent or running.
 */
export class BrokerUnavailableError extends Error {
  /** The task. */
  readonly taskId: string;
  /** The servers. */
  readonly servers: readonly string[];
  /** How long the executor waited, ms. */
  readonly waitedMs: number;
  /**
   * Creates the error.
   *
   * @param taskId The task.
   * @param servers The servers.
   * @param waitedMs How long the executor waited.
   * @param options `cause`: the last error.
   */
  constructor(taskId: string, servers: readonly string[], waitedMs: number, options?: { cause?: unknown }) {
    super(
      `Task "${taskId}" lost the NATS broker at ${
        servers.map((s) => `"${s}"`).join(", ")
      } for more than ${waitedMs} ms`,
      options,
    );
    this.name = "BrokerUnavailableError";
    this.taskId = taskId;
    this.servers = servers;
    this.waitedMs = waitedMs;
  }
}
