/**
 * Headless Chromium for tests, driven through `_browser_driver.ts` in a
 * child process. {@linkcode CHROMIUM} is null where Chromium is missing:
 * tests skip then, with a message saying why.
 *
 * @module
 */

/** Flags for Chromium on a machine without network or GPU (see .library/env/machines/node.md). */
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const path = Deno.env.get("NERV_CHROMIUM") ?? "/usr/bin/chromium";

/** The Chromium binary, or null when there is none. */
export const CHROMIUM: string | null = await Deno.stat(path).then((s) => (s.isFile ? path : null), () => null);

/** Why browser tests are skipped, or null when they run. */
export const SKIP_REASON: string | null = CHROMIUM === null
  ? `no Chromium at ${path} (install it with \`apt-get install -y chromium\`, or set NERV_CHROMIUM to its path)`
  : null;

/** A page in the test browser. */
export interface TestPage {
  /** Waits until a JS expression is truthy in the page. */
  wait(expression: string, timeoutMs?: number): Promise<void>;
  /** Evaluates a JS expression in the page. */
  eval<T>(expression: string): Promise<T>;
  /** The text of the first element matching a selector. */
  text(selector: string): Promise<string | null>;
  /** Saves a PNG screenshot. */
  shot(path: string): Promise<void>;
}

/** The test browser. */
export interface TestBrowser {
  /** Opens a page at a URL. */
  open(url: string, size?: { width: number; height: number }): Promise<TestPage>;
  /** Errors thrown by any page so far. */
  errors(): Promise<string[]>;
  /** Closes the browser and ends its process. */
  close(): Promise<void>;
}

/** Starts headless Chromium. */
export async function launchBrowser(): Promise<TestBrowser> {
  if (CHROMIUM === null) throw new Error(`Cannot launch a browser: ${SKIP_REASON}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_browser_driver.ts", import.meta.url).pathname, CHROMIUM, ...ARGS],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const readLine = async (): Promise<string> => {
    for (;;) {
      const at = buffer.indexOf("\n");
      if (at >= 0) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 1);
        return line;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error("The browser driver exited");
      buffer += value;
    }
  };
  const encoder = new TextEncoder();
  let queue = Promise.resolve<unknown>(undefined);
  const call = <T>(command: Record<string, unknown>): Promise<T> => {
    const next = queue.then(async () => {
      await writer.write(encoder.encode(JSON.stringify(command) + "\n"));
      const answer = JSON.parse(await readLine()) as { ok: boolean; value?: T; error?: string };
      if (!answer.ok) throw new Error(`Browser command ${command.op} failed: ${answer.error}`);
      return answer.value as T;
    });
    queue = next.catch(() => {});
    return next;
  };
  const ready = JSON.parse(await readLine());
  if (ready.value !== "ready") throw new Error("The browser driver did not start");
  let closed = false;
  return {
    async open(url, size) {
      const page = await call<number>({ op: "open", url, ...size });
      return {
        wait: (expression, timeout) => call({ op: "wait", page, expression, timeout }),
        eval: (expression) => call({ op: "eval", page, expression }),
        text: (selector) => call({ op: "text", page, selector }),
        shot: (path) => call({ op: "shot", page, path }),
      };
    },
    errors: () => call({ op: "errors" }),
    async close() {
      if (closed) return;
      closed = true;
      try {
        await queue;
        await writer.write(encoder.encode(JSON.stringify({ op: "close" }) + "\n"));
        await writer.close();
      } catch {
        // the driver is gone already
      }
      await reader.cancel().catch(() => {});
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited meanwhile
        }
      }, 10_000);
      await child.status;
      clearTimeout(timer);
    },
  };
}
