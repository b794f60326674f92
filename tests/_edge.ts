/**
 * Helpers of the edge runtime tests: bundling with `deno bundle`, finding or
 * installing the runtimes (npm `workerd`, whose package ships the binary;
 * npm `edge-runtime`, run under Node), and serving a bundle in each.
 *
 * Run as a script, it installs a runtime and prints where it is (`.ci/run`
 * calls it so that the tests find everything in place):
 *
 * ```sh
 * deno run -A --no-lock tests/_edge.ts workerd        # prints the workerd binary's path
 * deno run -A --no-lock tests/_edge.ts edge-runtime   # prints the edge-runtime package's directory
 * ```
 *
 * @module
 */

/** The workerd release the tests run in (its npm package ships the binary). */
export const WORKERD = "npm:workerd@1.20261123.1";
/** The edge-runtime release the tests run in (Vercel's edge runtime, under Node). */
export const EDGE_RUNTIME = "edge-runtime@4.0.1";

const ROOT = new URL("../", import.meta.url);
const FIXTURES = new URL("./fixtures/edge/", import.meta.url);

/** Where `.ci/run` and these helpers keep what they install. */
export function cacheDir(): string {
  const home = Deno.env.get("HOME") ?? "/tmp";
  return Deno.env.get("NERV_CI_CACHE") ?? `${Deno.env.get("XDG_CACHE_HOME") ?? `${home}/.cache`}/nerv-ci`;
}

/** A command's outcome, as text. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end. */
export async function exec(cmd: string, args: string[], cwd?: string): Promise<Output> {
  const o = await new Deno.Command(cmd, {
    args,
    cwd: cwd ?? ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const d = new TextDecoder();
  return { code: o.code, stdout: d.decode(o.stdout), stderr: d.decode(o.stderr) };
}

/**
 * Bundles an entry into one file with `deno bundle --platform browser`,
 * with the repository's config and lock.
 *
 * @param entry The entry module.
 * @param out The output file.
 * @param format `esm` (a module) or `iife` (a classic script: no `import.meta`).
 * @param minify Minify it.
 */
export async function bundle(entry: URL, out: string, format: "esm" | "iife", minify = true): Promise<void> {
  const o = await exec(Deno.execPath(), [
    "bundle",
    "--quiet",
    "--config",
    new URL("deno.json", ROOT).pathname,
    "--platform",
    "browser",
    "--format",
    format,
    ...(minify ? ["--minify"] : []),
    "-o",
    out,
    entry.pathname,
  ]);
  if (o.code !== 0) throw new Error(`deno bundle ${entry.pathname} failed:\n${o.stderr}`);
}

/** A hazard module of `fixtures/edge/hazards/`: module-scope code that an edge runtime must refuse. */
export type Hazard = "deno" | "import_meta" | "timer" | "random" | "eval";

/**
 * Writes an entry that loads a hazard module, then a runtime's main module
 * (whose exports it passes on), so a runtime's refusal of the hazard shows.
 *
 * @param dir A scratch directory.
 * @param hazard Which hazard.
 * @param main The runtime's main module in `fixtures/edge/`.
 * @param reexportDefault Pass on `main`'s default export (a workerd module worker's handler).
 * @returns The entry's URL.
 */
export async function hazardEntry(dir: string, hazard: Hazard, main: string, reexportDefault: boolean): Promise<URL> {
  const h = new URL(`hazards/${hazard}.ts`, FIXTURES).href;
  const m = new URL(main, FIXTURES).href;
  const file = `${dir}/${hazard}_${main}`;
  await Deno.writeTextFile(
    file,
    `import { hazard } from ${JSON.stringify(h)};\n` +
      (reexportDefault ? `export { default } from ${JSON.stringify(m)};\n` : `import ${JSON.stringify(m)};\n`) +
      `(globalThis as Record<string, unknown>).__hazard = hazard;\n`,
  );
  return new URL(`file://${file}`);
}

/** The fixture module `name` of `fixtures/edge/`. */
export function fixture(name: string): URL {
  return new URL(name, FIXTURES);
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A runtime serving a bundle, or the reason it would not. */
export interface Served {
  /** Its base URL, when it serves. */
  url?: string;
  /** Its output (stdout and stderr) so far. */
  output(): string;
  /** Ends it. */
  stop(): Promise<void>;
}

/** Reads a process's output into a string as it comes. */
function collect(child: Deno.ChildProcess): { text: () => string; done: Promise<void> } {
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const done = Promise.all([pump(child.stdout), pump(child.stderr)]).then(() => {});
  return { text: () => text, done };
}

async function serve(child: Deno.ChildProcess, ready: (output: string) => string | undefined): Promise<Served> {
  const out = collect(child);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // exited meanwhile
      }
    }
    await status;
    await out.done;
  };
  const deadline = Date.now() + 60_000;
  while (!exited && Date.now() < deadline) {
    const url = ready(out.text());
    if (url !== undefined) {
      try {
        const res = await fetch(`${url}/ready`);
        await res.body?.cancel();
        return { url, output: out.text, stop };
      } catch {
        // not listening yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  return { output: out.text, stop };
}

/**
 * Serves an ES module bundle as a workerd module worker on 127.0.0.1.
 *
 * @param binary The workerd binary.
 * @param bundlePath The bundle (a module whose default export has `fetch`).
 * @param dir A scratch directory for its config.
 */
export async function serveWorkerd(binary: string, bundlePath: string, dir: string): Promise<Served> {
  const port = freePort();
  const config = `${dir}/workerd_${port}.capnp`;
  await Deno.copyFile(bundlePath, `${dir}/workerd_${port}.js`);
  await Deno.writeTextFile(
    config,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .app)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const app :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "workerd_${port}.js")],
  compatibilityDate = "2025-06-01",
);
`,
  );
  const child = new Deno.Command(binary, {
    args: ["serve", config],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return await serve(child, () => `http://127.0.0.1:${port}`);
}

/**
 * Serves a script bundle in Vercel's edge runtime (npm `edge-runtime`, under
 * Node) on 127.0.0.1.
 *
 * @param packageDir The `edge-runtime` package's directory.
 * @param bundlePath The bundle (a script that listens for `fetch` events).
 */
export async function serveEdgeRuntime(packageDir: string, bundlePath: string): Promise<Served> {
  const child = new Deno.Command("node", {
    args: [fixture("edge_runtime_host.mjs").pathname, packageDir, bundlePath],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return await serve(child, (output) => output.match(/^listening (\S+?)\/?$/m)?.[1]);
}

/** A runtime's location, or why the tests must skip it. */
export type Found = { path: string; skip?: undefined } | { path?: undefined; skip: string };

/** Finds (installing it when missing) a runtime, through this module run as a script with `-A`. */
export async function findRuntime(which: "workerd" | "edge-runtime"): Promise<Found> {
  const o = await exec(Deno.execPath(), ["run", "-A", "--no-lock", new URL(import.meta.url).pathname, which]);
  const path = o.stdout.trim().split("\n").pop() ?? "";
  if (o.code === 0 && path !== "") return { path };
  return { skip: `${which} could not be installed: ${(o.stderr || o.stdout).trim().split("\n").slice(-3).join(" ")}` };
}

/** The workerd binary of {@linkcode WORKERD} (Deno fetches the package and its platform binary). */
async function installWorkerd(): Promise<string> {
  const spec = WORKERD;
  const mod = await import(spec) as { default?: { default?: string } | string };
  const path = typeof mod.default === "string" ? mod.default : mod.default?.default;
  if (typeof path !== "string") throw new Error(`${WORKERD} exports no binary path`);
  const version = await exec(path, ["--version"]);
  if (version.code !== 0) throw new Error(`${path} --version failed: ${version.stderr}`);
  console.error(`[edge] ${version.stdout.trim()} at ${path}`);
  return path;
}

/** The edge-runtime package directory, installed with npm into the cache when missing. */
async function installEdgeRuntime(): Promise<string> {
  const node = await exec("node", ["--version"]).catch(() => undefined);
  if (node === undefined || node.code !== 0) throw new Error("node is not on PATH (edge-runtime runs under Node)");
  const prefix = `${cacheDir()}/${EDGE_RUNTIME}`;
  const dir = `${prefix}/node_modules/edge-runtime`;
  const ok = () => Deno.stat(`${dir}/dist/index.js`).then(() => true, () => false);
  if (!(await ok())) {
    await Deno.mkdir(prefix, { recursive: true });
    const args = ["install", "--no-save", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"];
    for (let attempt = 1; attempt <= 3 && !(await ok()); attempt++) {
      console.error(`[edge] npm install ${EDGE_RUNTIME} into ${prefix} (attempt ${attempt})`);
      const o = await exec("npm", [...args, "--prefix", prefix, EDGE_RUNTIME]).catch((e) => ({
        code: 1,
        stdout: "",
        stderr: String(e),
      }));
      if (o.code !== 0) console.error(o.stderr);
    }
    if (!(await ok())) throw new Error(`npm could not install ${EDGE_RUNTIME}`);
  }
  console.error(`[edge] ${EDGE_RUNTIME} under Node ${node.stdout.trim()} at ${dir}`);
  return dir;
}

if (import.meta.main) {
  const which = Deno.args[0];
  try {
    if (which === "workerd") console.log(await installWorkerd());
    else if (which === "edge-runtime") console.log(await installEdgeRuntime());
    else throw new TypeError(`Unknown runtime ${JSON.stringify(which)}: expected "workerd" or "edge-runtime"`);
  } catch (error) {
    console.error(`[edge] ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
