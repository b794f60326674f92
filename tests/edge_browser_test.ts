/**
 * The engine, bundled, in headless Chromium: the page loads
 * `fixtures/edge/browser_main.ts` bundled as a classic script (no
 * `import.meta.url`), which runs the engine checks of the edge app and the
 * Web Worker path: a pool whose entry is the worker bundle
 * (`fixtures/edge/browser_worker.ts`: the package's worker entry and the task
 * module), a bundle given no entry (typed error), and an entry that does not
 * exist (the pool gives up after a few workers, naming the URL). The same
 * page with a module-scope `Deno.*` or `import.meta.url` loaded first throws
 * and runs nothing. Skips, saying why, only where there is no Chromium.
 *
 * @module
 */
import assert from "node:assert/strict";
import { launchBrowser, SKIP_REASON, type TestBrowser } from "./_browser.ts";
import { bundle, fixture, type Hazard, hazardEntry } from "./_edge.ts";

if (SKIP_REASON !== null) console.warn(`edge browser test skipped: ${SKIP_REASON}`);

/** Serves the files of a directory on 127.0.0.1 (JavaScript with its MIME type, as module workers need). */
function serveDir(dir: string): { url: string; shutdown: () => Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const name = new URL(request.url).pathname.slice(1) || "index.html";
    if (!/^[\w.-]+$/.test(name)) return new Response("bad name", { status: 400 });
    try {
      const body = await Deno.readFile(`${dir}/${name}`);
      const type = name.endsWith(".html") ? "text/html; charset=utf-8" : "text/javascript; charset=utf-8";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, shutdown: () => server.shutdown() };
}

const page = (script: string) =>
  `<!doctype html><meta charset="utf-8"><title>edge</title><script src="${script}"></script>`;

interface Outcome {
  facts?: Record<string, string>;
  checks?: { name: string; ok: boolean; error?: string }[];
  failed?: string;
}

Deno.test({
  name: "Chromium: the bundled engine passes every check, and runs task references in Web Workers from a bundle",
  ignore: SKIP_REASON !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "nerv-edge-browser-" });
    const server = serveDir(dir);
    let browser: TestBrowser | undefined;
    try {
      await bundle(fixture("browser_main.ts"), `${dir}/app.js`, "iife");
      await bundle(fixture("browser_worker.ts"), `${dir}/worker.js`, "esm");
      await Deno.writeTextFile(`${dir}/index.html`, page("app.js"));
      browser = await launchBrowser();
      const p = await browser.open(`${server.url}/index.html`);
      await p.wait("globalThis.__edge !== undefined", 30_000);
      const outcome = await p.eval<Outcome>("globalThis.__edge");
      assert.equal(outcome.failed, undefined, String(outcome.failed));
      assert.deepEqual(outcome.facts, { importMetaUrl: "undefined", Worker: "function", Deno: "undefined" });
      const names = outcome.checks!.map((c) => c.name);
      assert.equal(names.length, 11, `checks: ${names.join("; ")}`);
      assert.ok(names.includes("a pool given the worker bundle runs named task references in Web Workers"));
      assert.ok(
        names.includes("a pool whose entry does not load gives up after a few attempts, naming the script URL"),
      );
      const failed = outcome.checks!.filter((c) => !c.ok);
      assert.deepEqual(failed, [], `checks failed:\n${failed.map((c) => `${c.name}: ${c.error}`).join("\n")}`);
      assert.deepEqual(await browser.errors(), [], "the page threw nothing");
    } finally {
      await browser?.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "Chromium: a module-scope Deno.* or import.meta.url in a script bundle throws, and nothing runs",
  ignore: SKIP_REASON !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "nerv-edge-browser-" });
    const server = serveDir(dir);
    let browser: TestBrowser | undefined;
    try {
      const cases: [Hazard, RegExp][] = [["deno", /Deno is not defined/], ["import_meta", /Invalid URL/]];
      browser = await launchBrowser();
      for (const [hazard, expected] of cases) {
        await bundle(await hazardEntry(dir, hazard, "browser_main.ts", false), `${dir}/${hazard}.js`, "iife");
        await Deno.writeTextFile(`${dir}/${hazard}.html`, page(`${hazard}.js`));
        const p = await browser.open(`${server.url}/${hazard}.html`);
        await p.wait("document.readyState === 'complete'");
        const errors = await browser.errors();
        assert.ok(errors.some((e) => expected.test(e)), `${hazard}: the page's errors ${JSON.stringify(errors)}`);
        assert.equal(await p.eval("typeof globalThis.__edge"), "undefined", `${hazard}: the app did not run`);
      }
    } finally {
      await browser?.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
