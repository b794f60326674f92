// The edge bundle's size: `mod.ts` bundled into one minified ES module for browsers and edge runtimes
// (`deno bundle --platform browser --minify`, esbuild inside Deno), in bytes and gzip (level 9) bytes, and what
// each npm dependency adds: the bundle's size minus the size of the same bundle with that dependency left
// external (`--external`). Sizes are deterministic (same lock, same Deno), so one build each is enough; the
// budget below is checked here (exit code 1 when over) and by tests/edge_bundle_size_test.ts.
//
// Usage: deno run --allow-read --allow-run --allow-env --allow-write=/tmp bench/bundle_size.ts
import { gzipSync } from "node:zlib";

/** The budget of the minified `mod.ts` bundle, in bytes. */
export const BUDGET = { minified: 276 * 1024, gzip: 88 * 1024 } as const;

/** The npm packages of the core (src/deps.ts, src/deps_comlink.ts, src/deps_otel.ts), by `--external` pattern. */
export const DEPENDENCIES: readonly [name: string, pattern: string][] = [
  ["xstate", "npm:xstate@*"],
  ["immutable", "npm:immutable@*"],
  ["tsyringe (container module only)", "npm:tsyringe@*"],
  ["@xstate/store", "npm:@xstate/store@*"],
  ["@opentelemetry/api", "npm:@opentelemetry/api@*"],
  ["comlink", "npm:comlink@*"],
  ["nanoevents", "npm:nanoevents@*"],
];

const root = new URL("..", import.meta.url);

/** A bundle's size. */
export interface Size {
  minified: number;
  gzip: number;
}

/**
 * Bundles an entry (a path relative to the repository, or a URL) with `deno bundle --platform browser --minify`.
 *
 * @param entry The entry module.
 * @param external `--external` patterns.
 * @returns The bundle's text.
 */
export async function bundleText(entry: string, external: string[] = []): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "nerv-bundle-size-" });
  try {
    const out = `${dir}/bundle.js`;
    const o = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "browser",
        "--minify",
        ...external.flatMap((e) => ["--external", e]),
        "-o",
        out,
        entry,
      ],
      cwd: root.pathname,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    if (o.code !== 0) throw new Error(`deno bundle ${entry} failed:\n${new TextDecoder().decode(o.stderr)}`);
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The size of a bundle's text: bytes, and gzip (level 9) bytes. */
export function sizeOf(text: string): Size {
  const bytes = new TextEncoder().encode(text);
  return { minified: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

const kb = (n: number) => (n / 1024).toFixed(1);

if (import.meta.main) {
  const full = sizeOf(await bundleText("mod.ts"));
  const rows: string[] = [
    "| bundle | minified KiB | gzip KiB | share of the bundle (minified) |",
    "| --- | ---: | ---: | ---: |",
    `| \`mod.ts\`, everything | ${kb(full.minified)} | ${kb(full.gzip)} | 100% |`,
  ];
  let depsMin = 0;
  for (const [name, pattern] of DEPENDENCIES) {
    const without = sizeOf(await bundleText("mod.ts", [pattern]));
    const added = { minified: full.minified - without.minified, gzip: full.gzip - without.gzip };
    depsMin += added.minified;
    rows.push(
      `| adds: ${name} | ${kb(added.minified)} | ${kb(added.gzip)} | ${
        (100 * added.minified / full.minified).toFixed(1)
      }% |`,
    );
  }
  const own = sizeOf(await bundleText("mod.ts", DEPENDENCIES.map(([, p]) => p)));
  rows.push(
    `| nerv-flow's own code (every dependency external) | ${kb(own.minified)} | ${kb(own.gzip)} | ${
      (100 * own.minified / full.minified).toFixed(1)
    }% |`,
  );
  const worker = sizeOf(await bundleText("workers/worker_entry.ts"));
  rows.push(
    `| \`workers/worker_entry.ts\` (a worker bundle, before task modules) | ${kb(worker.minified)} | ${
      kb(worker.gzip)
    } | — |`,
  );
  // What the core no longer bundles: tsyringe's index needs it, its container module (imported instead) does not.
  const reflectDir = await Deno.makeTempDir({ prefix: "nerv-bundle-size-" });
  const reflectEntry = `${reflectDir}/reflect.ts`;
  await Deno.writeTextFile(reflectEntry, 'import "npm:reflect-metadata@^0.2.2";\n');
  const reflect = sizeOf(await bundleText(reflectEntry));
  await Deno.remove(reflectDir, { recursive: true });
  rows.push(
    `| not bundled: reflect-metadata (tsyringe's index demands it; its container module does not) | ${
      kb(reflect.minified)
    } | ${kb(reflect.gzip)} | — |`,
  );
  console.log(rows.join("\n"));
  console.log("");
  console.log(
    `Budget: ${kb(BUDGET.minified)} KiB minified, ${kb(BUDGET.gzip)} KiB gzip (tests/edge_bundle_size_test.ts ` +
      `keeps it). "adds" is the bundle minus the same bundle with that package external; the rows do not sum to ` +
      `the whole (shared helpers, gzip context): dependencies add ${kb(depsMin)} KiB, ${
        (100 * depsMin / full.minified).toFixed(0)
      }% of it.`,
  );
  console.log(
    `summary: edge bundle of mod.ts (deno bundle --platform browser --minify): ${kb(full.minified)} KiB minified, ${
      kb(full.gzip)
    } KiB gzip (budget ${kb(BUDGET.minified)} / ${kb(BUDGET.gzip)} KiB); nerv-flow's own code ${
      kb(own.minified)
    } KiB of it`,
  );
  if (full.minified > BUDGET.minified || full.gzip > BUDGET.gzip) {
    console.error(`over budget: ${full.minified} bytes minified, ${full.gzip} gzip`);
    Deno.exit(1);
  }
}
