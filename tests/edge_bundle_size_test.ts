/**
 * The edge bundle keeps its size budget (`bench/bundle_size.ts`, figures in
 * bench/RESULTS.md): `mod.ts` bundled and minified for browsers, in bytes and
 * gzip bytes (deterministic: same lock, same Deno). reflect-metadata, which
 * tsyringe's index demands and nerv-flow does not need, stays out.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BUDGET, bundleText, sizeOf } from "../bench/bundle_size.ts";

Deno.test("the minified edge bundle of mod.ts stays within its budget, without reflect-metadata", async () => {
  const text = await bundleText("mod.ts");
  const size = sizeOf(text);
  assert.ok(
    size.minified <= BUDGET.minified,
    `the bundle has ${size.minified} bytes minified, over the budget of ${BUDGET.minified}`,
  );
  assert.ok(size.gzip <= BUDGET.gzip, `the bundle has ${size.gzip} bytes gzip, over the budget of ${BUDGET.gzip}`);
  assert.doesNotMatch(text, /getOwnMetadataKeys/, "reflect-metadata is not bundled");
  assert.doesNotMatch(text, /tsyringe requires a reflect polyfill/, "tsyringe's index is not bundled");
});
