/**
 * The executor contract (`_contract.ts`) against every executor: the inline
 * executor (`workers: false`) and the cpu, mixed and memory worker pools.
 * Deno's sanitizers stay on: a worker left running fails the case.
 *
 * @module
 */
import { executorContract, INLINE_TRAITS } from "./_contract.ts";

executorContract("inline executor", () => ({ workers: false }), { profile: "cpu", ...INLINE_TRAITS });

for (const profile of ["cpu", "mixed", "memory"] as const) {
  executorContract(
    `${profile} pool`,
    () => ({ workers: { [profile]: 2 }, limits: { [profile]: 2 } }),
    { profile, poolSize: 2 },
  );
}
