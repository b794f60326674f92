// npm packages of the Deno adapters, by full `npm:` specifier (see src/deps.ts).
// @ts-types="npm:@types/cli-progress@^3.11.6"
import cliProgress from "npm:cli-progress@^3.12.0";

export { cliProgress };
