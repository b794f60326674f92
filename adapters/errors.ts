/**
 * The errors of the Deno adapters: a log that another writer holds, a file
 * that is not a log.
 *
 * @module
 */

/** Who holds a log: the process that opened it for writing. */
export interface LogHolder {
  /** The holder's process id. */
  pid: number;
  /** The host it runs on. */
  host: string;
  /** When it took the log, as an ISO 8601 date. */
  since: string;
  /** A random token naming that one opening (two openings in one process differ). */
  token: string;
  /** Deno KV only: when the holder's lease expires unless renewed, as an ISO 8601 date. */
  expiresAt?: string;
}

/**
 * A log store has one writer at a time: opening a log that another store
 * (in this process or another one) holds is refused with this error, which
 * names the holder. The file store holds an OS lock (released by the kernel
 * when the holder's process ends, however it ends); the Deno KV store holds a
 * lease that its holder renews and that a new opener takes over once it has
 * expired.
 *
 * @example Reading the holder
 * ```ts
 * import { LogLockedError } from "@nerv/flow/adapters";
 * const e = new LogLockedError("/var/flow.log", { pid: 4242, host: "build-1", since: "2026-01-01T00:00:00.000Z", token: "t" });
 * console.log(e.message);
 * // Cannot open log "/var/flow.log": another writer holds it (pid 4242 on "build-1" since 2026-01-01T00:00:00.000Z)
 * ```
 */
export class LogLockedError extends Error {
  /** The log's path (file store) or key prefix (Deno KV store). */
  readonly path: string;
  /** Who holds it; `undefined` when the holder has not written its name yet. */
  readonly holder: LogHolder | undefined;
  /**
   * Creates the error.
   *
   * @param path The log's path or key prefix.
   * @param holder Who holds it, if known.
   * @param what What was refused, e.g. `Cannot open log "x"`; the default names the path.
   */
  constructor(path: string, holder: LogHolder | undefined, what = `Cannot open log "${path}"`) {
    super(`${what}: another writer holds it (${describeHolder(holder)})`);
    this.name = "LogLockedError";
    this.path = path;
    this.holder = holder;
  }
}

/**
 * A file given to a file store is not one of its files: its first record is
 * not a record (another program's file, a file named by mistake). The file
 * is left as it was: never truncated, never emptied.
 *
 * @example
 * ```ts
 * import { NotALogError } from "@nerv/flow/adapters";
 * const e = new NotALogError("/etc/hosts", "its first line is not a record");
 * console.log(e.message);
 * // Cannot open log "/etc/hosts": it is not a nerv-flow log file (its first line is not a record); nothing was changed
 * ```
 */
export class NotALogError extends Error {
  /** The file. */
  readonly path: string;
  /** Why it is not a log. */
  readonly reason: string;
  /**
   * Creates the error.
   *
   * @param path The file.
   * @param reason Why it is not a log.
   * @param kind What the file should have been.
   */
  constructor(path: string, reason: string, kind = "log") {
    super(`Cannot open ${kind} "${path}": it is not a nerv-flow ${kind} file (${reason}); nothing was changed`);
    this.name = "NotALogError";
    this.path = path;
    this.reason = reason;
  }
}

function describeHolder(holder: LogHolder | undefined): string {
  if (holder === undefined) return "holder unknown: it has not written its name yet";
  const lease = holder.expiresAt === undefined ? "" : `, lease until ${holder.expiresAt}`;
  return `pid ${holder.pid} on "${holder.host}" since ${holder.since}${lease}`;
}
