// One Comlink call per task: the naive way to put tasks in workers.
/// <reference lib="deno.worker" />
import { expose } from "../src/deps_comlink.ts";
import { spin } from "./_tasks.ts";

expose({
  noop: () => undefined,
  spin: (rounds: number) => spin(rounds),
});
