/**
 * Drives headless Chromium with playwright-core for tests, in its own process
 * (playwright reads /proc and the home directory, which needs --allow-all; the
 * test process keeps its narrow permissions). Reads one JSON command per line
 * on stdin and answers one JSON line on stdout: `{ ok: true, value }` or
 * `{ ok: false, error }`.
 *
 * Commands: `open` (a new page: url, width, height), `wait` (expression,
 * timeout), `eval` (expression), `text` (selector), `shot` (path), `close`.
 *
 * @module
 */
import { chromium, type Page } from "npm:playwright-core@^1.50.0";

const [executablePath, ...args] = Deno.args;
const browser = await chromium.launch({ executablePath, args });
const pages: Page[] = [];
const errors: string[] = [];
const encoder = new TextEncoder();
const reply = (value: unknown) => Deno.stdout.write(encoder.encode(JSON.stringify(value) + "\n"));

interface Command {
  op: "open" | "wait" | "eval" | "text" | "shot" | "errors" | "close";
  page?: number;
  url?: string;
  width?: number;
  height?: number;
  expression?: string;
  timeout?: number;
  selector?: string;
  path?: string;
}

await reply({ ok: true, value: "ready" });
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(
  new TransformStream<string, string>(
    {
      buffer: "",
      transform(chunk, controller) {
        const parts = ((this as unknown as { buffer: string }).buffer + chunk).split("\n");
        (this as unknown as { buffer: string }).buffer = parts.pop()!;
        for (const p of parts) if (p.trim() !== "") controller.enqueue(p);
      },
    } as Transformer<string, string> & { buffer: string },
  ),
);
try {
  for await (const line of lines) {
    const cmd = JSON.parse(line) as Command;
    if (cmd.op === "close") break;
    try {
      const page = pages[cmd.page ?? pages.length - 1];
      let value: unknown = null;
      switch (cmd.op) {
        case "open": {
          const p = await browser.newPage({ viewport: { width: cmd.width ?? 1280, height: cmd.height ?? 800 } });
          p.on("pageerror", (error) => errors.push(String(error)));
          await p.goto(cmd.url!);
          pages.push(p);
          value = pages.length - 1;
          break;
        }
        case "wait":
          await page.waitForFunction(cmd.expression!, null, { timeout: cmd.timeout ?? 30_000 });
          break;
        case "eval":
          value = await page.evaluate(cmd.expression!);
          break;
        case "text":
          value = await page.textContent(cmd.selector!);
          break;
        case "shot":
          await page.screenshot({ path: cmd.path! });
          break;
        case "errors":
          value = errors;
          break;
      }
      await reply({ ok: true, value });
    } catch (error) {
      await reply({ ok: false, error: String((error as Error)?.message ?? error) });
    }
  }
} finally {
  await browser.close();
}
