// The Comlink specifier, apart from `deps.ts` so that a worker loads Comlink
// without the engine's other dependencies. `deps.ts` re-exports it.
export { expose, transfer, transferHandlers, wrap } from "npm:comlink@^4.4.2";
export type { Remote, TransferHandler } from "npm:comlink@^4.4.2";
