/**
 * Worker processes for the NATS executor tests: `deno run adapters/nats/worker.ts`
 * as a child process, ready once it printed its `ready` line.
 *
 * @module
 */
const WORKER = new URL("../adapters/nats/worker.ts", import.meta.url).pathname;

/** A worker process. */
export interface WorkerProcess {
  /** Its pid. */
  readonly pid: number;
  /** Its name. */
  readonly name: string;
  /** What it printed so far. */
  readonly output: string;
  /** Resolves with its exit code. */
  readonly exited: Promise<number>;
  /** Sends a signal (SIGKILL, SIGTERM). */
  signal(sig: Deno.Signal): void;
  /** SIGKILL if still alive; waits for the exit. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startWorker}. */
export interface StartWorkerOptions {
  servers: string | string[];
  profiles?: string;
  concurrency?: number;
  name?: string;
  prefix?: string;
  drainTimeoutMs?: number;
  /** Messages held at once per profile. */
  prefetch?: number;
  /** Prefix the command (e.g. `["ip", "netns", "exec", "ns1"]`). */
  wrap?: string[];
}

/**
 * Starts `adapters/nats/worker.ts` and waits for its `ready` line.
 *
 * @returns The process.
 */
export async function startWorker(options: StartWorkerOptions): Promise<WorkerProcess> {
  const name = options.name ?? `w-${crypto.randomUUID().slice(0, 6)}`;
  const args = [
    "run",
    "--allow-read",
    "--allow-env",
    "--allow-net",
    "--allow-write=/tmp",
    WORKER,
    "--servers",
    Array.isArray(options.servers) ? options.servers.join(",") : options.servers,
    "--profiles",
    options.profiles ?? "cpu",
    "--name",
    name,
    "--concurrency",
    String(options.concurrency ?? 2),
  ];
  if (options.prefix) args.push("--prefix", options.prefix);
  if (options.prefetch !== undefined) args.push("--prefetch", String(options.prefetch));
  if (options.drainTimeoutMs !== undefined) args.push("--drain-timeout", String(options.drainTimeoutMs));
  const wrap = options.wrap ?? [];
  const cmd = wrap.length > 0 ? wrap[0] : Deno.execPath();
  const cmdArgs = wrap.length > 0 ? [...wrap.slice(1), Deno.execPath(), ...args] : args;
  const child = new Deno.Command(cmd, { args: cmdArgs, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  let output = "";
  let ready: () => void;
  const isReady = new Promise<void>((r) => ready = r);
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      output += dec.decode(chunk, { stream: true });
      if (output.includes(`ready ${name}`)) ready();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const exited = child.status.then(async (s) => {
    await pumps.catch(() => {});
    return s.code;
  });
  const timeout = new Promise<never>((_, reject) => {
    const t = setTimeout(() => reject(new Error(`worker ${name} not ready:\n${output}`)), 30_000);
    isReady.then(() => clearTimeout(t));
    exited.then(() => {
      clearTimeout(t);
      reject(new Error(`worker ${name} exited before ready:\n${output}`));
    });
  });
  try {
    await Promise.race([isReady, timeout]);
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await exited;
    throw e;
  }
  timeout.catch(() => {});
  let alive = true;
  exited.then(() => alive = false);
  return {
    pid: child.pid,
    name,
    get output() {
      return output;
    },
    exited,
    signal(sig) {
      if (!alive) return;
      try {
        child.kill(sig);
      } catch { /* gone */ }
    },
    async stop() {
      if (alive) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await exited;
    },
  };
}
