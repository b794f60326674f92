// Piscina's worker module for the dispatch benchmark (workers_compare.ts (b)): a no-op default export.
export default function noop(): undefined {
  return undefined;
}
