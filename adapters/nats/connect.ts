/**
 * Connecting to NATS: one function with the options every NATS adapter
 * shares, and a typed error when no server answers.
 *
 * @module
 */
import {
  connect,
  JetStreamApiError,
  type JetStreamManager,
  type NatsConnection,
  type NodeConnectionOptions,
} from "./deps.ts";

/** Options of {@linkcode connectNats}. */
export interface NatsConnectOptions {
  /** Server URLs, e.g. `"nats://127.0.0.1:4222"` or a list of a cluster's servers. */
  servers: string | readonly string[];
  /** The connection's name, as servers show it in their monitoring. */
  name?: string;
  /**
   * Milliseconds to wait for the first connection before failing with
   * {@linkcode NatsUnreachableError}.
   *
   * @default {2000}
   */
  timeout?: number;
  /**
   * Reconnect attempts per server after a connection was lost; `-1` is
   * without end.
   *
   * @default {-1}
   */
  maxReconnectAttempts?: number;
  /**
   * Milliseconds between reconnect attempts to one server.
   *
   * @default {250}
   */
  reconnectTimeWait?: number;
  /** User name, with {@linkcode NatsConnectOptions.pass}. */
  user?: string;
  /** Password, with {@linkcode NatsConnectOptions.user}. */
  pass?: string;
  /** Authentication token. */
  token?: string;
  /**
   * Further options passed to the client's `connect()` as they are (TLS,
   * authenticator, …: the `ConnectionOptions` of `@nats-io/transport-node`).
   */
  client?: Readonly<Record<string, unknown>>;
}

/** No NATS server of the given list answered the first connection. */
export class NatsUnreachableError extends Error {
  /** The servers that were tried. */
  readonly servers: readonly string[];
  /**
   * Creates the error.
   *
   * @param servers The servers that were tried.
   * @param cause What the client reported.
   */
  constructor(servers: readonly string[], cause?: unknown) {
    const reason = cause instanceof Error ? `: ${cause.message}` : "";
    super(`Cannot reach a NATS server at ${servers.map((s) => `"${s}"`).join(", ")}${reason}`, { cause });
    this.name = "NatsUnreachableError";
    this.servers = servers;
  }
}

/**
 * The server list of `options`, checked.
 *
 * @throws {TypeError} When the list is empty or holds a value that is not a non-empty string.
 */
export function serverList(servers: string | readonly string[]): string[] {
  const list = typeof servers === "string" ? servers.split(",").map((s) => s.trim()) : [...servers];
  if (list.length === 0 || list.some((s) => typeof s !== "string" || s === "")) {
    throw new TypeError(
      `Cannot connect to NATS: servers must be a non-empty list of URLs, got ${JSON.stringify(servers)}`,
    );
  }
  return list;
}

/**
 * Connects to NATS. The connection reconnects on its own after a loss (see
 * {@linkcode NatsConnectOptions.maxReconnectAttempts}); only the first
 * connection fails fast.
 *
 * @param options Servers and connection options.
 * @returns The open connection; close it with `close()` or `drain()`.
 * @throws {NatsUnreachableError} When no server answered within `timeout`.
 * @throws {TypeError} When `servers` is empty.
 *
 * @example Connect, or say why not
 * ```ts ignore
 * import { connectNats, NatsUnreachableError } from "./connect.ts";
 *
 * try {
 *   const nc = await connectNats({ servers: "nats://127.0.0.1:4222" });
 *   await nc.close();
 * } catch (e) {
 *   if (e instanceof NatsUnreachableError) console.error(e.message);
 * }
 * ```
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  const servers = serverList(options.servers);
  try {
    return await connect({
      servers,
      timeout: options.timeout ?? 2000,
      maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
      reconnectTimeWait: options.reconnectTimeWait ?? 250,
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.user === undefined ? {} : { user: options.user }),
      ...(options.pass === undefined ? {} : { pass: options.pass }),
      ...(options.token === undefined ? {} : { token: options.token }),
      ...options.client as Partial<NodeConnectionOptions>,
    });
  } catch (e) {
    throw new NatsUnreachableError(servers, e);
  }
}

/**
 * Calls `fn` again while it fails for a moment (no acknowledgement, no stream leader, no responder, a JetStream API
 * that a freshly formed cluster does not answer yet), backing off up to 2 s, at most 14 attempts.
 *
 * @param fn The call.
 * @returns Its result.
 * @throws {Error} Its last error, or the first that is not transient.
 */
export async function retryTransient<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= 14 || !isTransient(error)) throw error;
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
}

/**
 * Whether a NATS call failed for a moment (no acknowledgement, no stream leader, no responder): worth trying again.
 *
 * @param error What it threw.
 * @returns `true` when trying again may work.
 */
export function isTransient(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof JetStreamApiError) return e.status === 503;
    if (["TimeoutError", "NoRespondersError", "JetStreamNotEnabled", "RequestError"].includes(e.name)) return true;
    if (/timeout|no responders|timed out/i.test(e.message)) return true;
  }
  return false;
}

/**
 * The last message of a stream on a subject (wildcards allowed), retried over transient errors.
 *
 * @param jsm A JetStream manager.
 * @param stream The stream.
 * @param subject The subject.
 * @returns The message, or `undefined` when the subject has none.
 */
export async function lastMessage(jsm: JetStreamManager, stream: string, subject: string) {
  try {
    return (await retryTransient(() => jsm.streams.getMessage(stream, { last_by_subj: subject }))) ?? undefined;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === 10037) return undefined; // no message found
    throw error;
  }
}

/**
 * An open NATS connection, as `connect()` of `@nats-io/transport-node`
 * returns it (typed by the two methods named here, so that the client's types
 * stay out of this package's API; anything else is refused at run time).
 */
export interface OpenConnection {
  /** Closes the connection. */
  close(): Promise<unknown>;
  /** Drains, then closes the connection. */
  drain(): Promise<unknown>;
}

/**
 * The connection given, checked; or a new one to `servers`.
 *
 * @param what Who asks, for the error message.
 * @returns The connection and whether the caller opened it (and so closes it).
 */
export async function openConnection(
  what: string,
  options: { servers?: string | readonly string[]; connection?: OpenConnection },
  name: string,
): Promise<{ nc: NatsConnection; owned: boolean }> {
  if (options.connection !== undefined) {
    const c = options.connection as Partial<NatsConnection>;
    if (typeof c?.publish !== "function" || typeof c.request !== "function" || typeof c.close !== "function") {
      throw new TypeError(`Cannot open ${what}: connection is not an open NATS connection`);
    }
    return { nc: c as NatsConnection, owned: false };
  }
  if (options.servers === undefined) throw new TypeError(`Cannot open ${what}: give servers or connection`);
  return { nc: await connectNats({ servers: options.servers, name }), owned: true };
}
