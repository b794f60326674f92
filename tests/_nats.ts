/**
 * Real NATS servers for tests: {@linkcode startNatsServer} starts
 * `nats-server` with JetStream on a free loopback port and a temporary store
 * directory and waits until it is ready; {@linkcode startNatsCluster} starts
 * `n` of them routed to each other on loopback. Stop them in `finally`.
 *
 * The binary is `NATS_SERVER` when set, else `nats-server` on PATH (Debian's
 * package installs `/usr/bin/nats-server`; `.ci/run` installs it when missing).
 *
 * @module
 */

/** A running (or stopped) `nats-server` process. */
export interface NatsServer {
  /** Client URL, e.g. `nats://127.0.0.1:41234`. */
  readonly url: string;
  /** Client port. */
  readonly port: number;
  /** HTTP monitoring port (`/healthz`, `/jsz`, …). */
  readonly monitorPort: number;
  /** Cluster (route) port, when the server is part of a cluster. */
  readonly clusterPort: number | undefined;
  /** Server name (distinct per cluster member). */
  readonly name: string;
  /** JetStream store directory. */
  readonly storeDir: string;
  /** The server's log file. */
  readonly logFile: string;
  /** Whether the process is running. */
  readonly running: boolean;
  /** The process id of the running server. */
  readonly pid: number;
  /** SIGTERM, waits for the exit, then removes the temporary directory (unless `keepStore`). Idempotent. */
  stop(options?: { keepStore?: boolean }): Promise<void>;
  /** SIGKILL, waits for the exit; keeps the store, so that `restart()` finds it. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and store, and waits until it is ready. */
  restart(): Promise<void>;
}

/** Options of {@linkcode startNatsServer}. */
export interface NatsServerOptions {
  /** Client port; a free one by default. */
  port?: number;
  /** Address to listen on. @default {"127.0.0.1"} */
  host?: string;
  /** Store directory; a fresh temporary one by default (removed by `stop()`). */
  storeDir?: string;
  /** Server name. @default {"nerv-<port>"} */
  name?: string;
  /** Cluster settings: own route port, routes to the others, cluster name. */
  cluster?: { port: number; routes: string[]; name?: string };
  /** Extra command-line arguments. */
  args?: string[];
  /** Wait for JetStream's meta leader (a cluster's) before returning. @default {true} */
  waitJetStream?: boolean;
  /** Milliseconds to wait until ready. @default {15000} */
  readyTimeout?: number;
}

const binary = (() => {
  try {
    return Deno.env.get("NATS_SERVER") ?? "nats-server";
  } catch {
    return "nats-server";
  }
})();

/** Whether `nats-server` can be started here (tests `ignore` themselves when not). */
export function hasNatsServer(): boolean {
  try {
    const out = new Deno.Command(binary, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync();
    return out.success;
  } catch {
    return false;
  }
}

/** Ports `freePort` handed out in this process: the kernel may offer a port again once it is closed. */
const handedOut = new Set<number>();

/**
 * A TCP port that was free a moment ago on `host`, and never handed out before in this process (a cluster's route
 * ports are picked before its servers' client and monitor ports: one of those came back as a route port, and a server
 * failed with "address already in use").
 */
export function freePort(host = "127.0.0.1"): number {
  for (let tries = 0;; tries++) {
    const l = Deno.listen({ hostname: host, port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    if (!handedOut.has(port) || tries >= 100) {
      handedOut.add(port);
      return port;
    }
  }
}

async function monitor(port: number, path: string, host: string): Promise<unknown> {
  const res = await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.timeout(1000) });
  const body = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${body}`);
  return JSON.parse(body);
}

async function waitReady(
  port: number,
  host: string,
  timeout: number,
  clusterSize: number,
  waitJs: boolean,
  alive: () => boolean,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  while (Date.now() < deadline) {
    if (!alive()) break;
    try {
      await monitor(port, "/healthz", host);
      if (!waitJs) return;
      const jsz = await monitor(port, "/jsz", host) as { meta_cluster?: { leader?: string; cluster_size?: number } };
      if (clusterSize <= 1) return;
      const meta = jsz.meta_cluster;
      if (meta?.leader && (meta.cluster_size ?? 0) >= clusterSize) return;
      last = `meta cluster not ready: ${JSON.stringify(meta)}`;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let log = "";
  try {
    log = (await Deno.readTextFile(logFile)).slice(-2000);
  } catch { /* no log */ }
  throw new Error(
    `nats-server on port ${port} is not ready (${alive() ? "timed out" : "exited"}): ${String(last)}\n${log}`,
  );
}

/**
 * Starts `nats-server` with JetStream and waits until it answers.
 *
 * @param options Ports, store, cluster settings.
 * @returns The running server.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? freePort(host === "0.0.0.0" ? "127.0.0.1" : host);
  const monitorPort = freePort(host === "0.0.0.0" ? "127.0.0.1" : host);
  const root = await Deno.makeTempDir({ prefix: "nerv-nats-" });
  const storeDir = options.storeDir ?? `${root}/store`;
  const logFile = `${root}/server.log`;
  const name = options.name ?? `nerv-${port}`;
  const args = [
    "-a",
    host,
    "-p",
    String(port),
    "-m",
    String(monitorPort),
    "-n",
    name,
    "-js",
    "-sd",
    storeDir,
    "-l",
    logFile,
  ];
  if (options.cluster) {
    args.push("--cluster_name", options.cluster.name ?? "nerv", "--cluster", `nats://${host}:${options.cluster.port}`);
    if (options.cluster.routes.length > 0) args.push("--routes", options.cluster.routes.join(","));
  }
  args.push(...(options.args ?? []));
  const clusterSize = options.cluster ? options.cluster.routes.length + 1 : 1;
  const monitorHost = host === "0.0.0.0" ? "127.0.0.1" : host;

  let child: Deno.ChildProcess | undefined;
  let exited: Promise<Deno.CommandStatus> | undefined;
  let running = false;
  let removed = false;

  const spawn = async (waitJs: boolean) => {
    child = new Deno.Command(binary, { args, stdin: "null", stdout: "null", stderr: "null" }).spawn();
    running = true;
    exited = child.status.then((s) => {
      running = false;
      return s;
    });
    try {
      await waitReady(
        monitorPort,
        monitorHost,
        options.readyTimeout ?? 15_000,
        clusterSize,
        waitJs,
        () => running,
        logFile,
      );
    } catch (e) {
      if (running) {
        child.kill("SIGKILL");
        await exited;
      }
      throw e;
    }
  };
  const signal = async (sig: Deno.Signal) => {
    if (child && running) {
      try {
        child.kill(sig);
      } catch { /* already gone */ }
    }
    if (exited) await exited;
  };

  const server: NatsServer = {
    url: `nats://${monitorHost}:${port}`,
    port,
    monitorPort,
    clusterPort: options.cluster?.port,
    name,
    storeDir,
    logFile,
    get running() {
      return running;
    },
    get pid() {
      return child?.pid ?? -1;
    },
    async stop(opts) {
      await signal("SIGTERM");
      if (!opts?.keepStore && !removed) {
        removed = true;
        await Deno.remove(root, { recursive: true }).catch(() => {});
      }
    },
    kill: () => signal("SIGKILL"),
    async restart() {
      if (running) throw new Error(`nats-server "${name}" is still running`);
      await spawn(false);
    },
  };
  await spawn(options.waitJetStream ?? true);
  return server;
}

/** A cluster of `nats-server` processes, routed to each other on loopback. */
export interface NatsCluster {
  /** Client URLs, one per server. */
  readonly urls: string[];
  /** The servers. */
  readonly servers: NatsServer[];
  /** Stops every server and removes their stores. */
  stop(): Promise<void>;
}

/**
 * Starts `n` JetStream servers (distinct names, routes between all of them)
 * and waits until the JetStream meta group has a leader.
 *
 * @param n Number of servers. @default {3}
 * @returns The running cluster.
 */
export async function startNatsCluster(n = 3): Promise<NatsCluster> {
  const clusterPorts = Array.from({ length: n }, () => freePort());
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`);
  const clusterName = `nerv-${clusterPorts[0]}`;
  const servers: NatsServer[] = [];
  try {
    // Start every server first (each waits only for its own health), then
    // wait for the meta leader once all routes can form.
    const started = await Promise.all(clusterPorts.map((p, i) =>
      startNatsServer({
        name: `${clusterName}-n${i}`,
        cluster: { port: p, routes: routes.filter((_, j) => j !== i), name: clusterName },
        waitJetStream: false,
      })
    ));
    servers.push(...started);
    await Promise.all(
      servers.map((s) => waitReady(s.monitorPort, "127.0.0.1", 20_000, n, true, () => s.running, s.logFile)),
    );
  } catch (e) {
    await Promise.all(servers.map((s) => s.stop()));
    throw e;
  }
  return {
    urls: servers.map((s) => s.url),
    servers,
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
