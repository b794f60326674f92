// workerpool's worker script for the dispatch benchmark (workers_compare.ts (b)): one no-op method.
import workerpool from "npm:workerpool@^10.0.3";

workerpool.worker({ noop: () => undefined });
