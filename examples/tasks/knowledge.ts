/**
 * The CPU-heavy stage of the knowledge pipeline as a task module: loaded by
 * the main thread and by each worker of the cpu pool, which runs these
 * bodies by name (`defineTasks`).
 *
 * @module
 */
import { defineTasks, type TaskContext } from "../../mod.ts";

/** A parsed document. */
export interface Parsed {
  slug: string;
  title: string;
  /** SHA-256 of the content, hex. */
  hash: string;
  words: number;
  tokens: number;
  /** Term counts. */
  tf: Record<string, number>;
}

/** Document frequencies of the corpus. */
export interface DocFreq {
  docs: number;
  /** Number of documents that contain each term. */
  df: Record<string, number>;
}

/** A scored document. */
export interface Scored {
  slug: string;
  title: string;
  hash: string;
  tokens: number;
  /** TF-IDF weight of each term. */
  weights: Record<string, number>;
  norm: number;
  top: [term: string, weight: number][];
}

const STOPWORDS = new Set(
  ("the and for are but not you all any can had her was one our out has his how its may new now see two way who did " +
    "get let put say she too use that with have this will your from they been more when what than them then some into " +
    "only over also such each which their there these those other would could should about after again being both " +
    "does doing down during every here just most much must once same very well where while whose like many why own " +
    "off per via yet instead whole given part").split(" "),
);

/** Lowercase words of letters and digits, stop words removed, plurals folded. */
function tokenize(text: string): { words: number; tokens: string[] } {
  const words = text.toLowerCase().match(/[a-z][a-z0-9]*(?:['-][a-z0-9]+)*/g) ?? [];
  const tokens: string[] = [];
  for (const word of words) {
    const w = word.replace(/'s$/, "");
    if (w.length < 3 || STOPWORDS.has(w)) continue;
    tokens.push(stem(w));
  }
  return { words: words.length, tokens };
}

function stem(w: string): string {
  if (w.length > 4 && w.endsWith("ies")) return `${w.slice(0, -3)}y`;
  if (w.length > 3 && w.endsWith("s") && !/(ss|us|is)$/.test(w)) return w.slice(0, -1);
  return w;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function parse(slug: string, text: string): Promise<Parsed> {
  const title = /^#\s+(.+)$/m.exec(text)?.[1].trim() ?? slug;
  const { words, tokens } = tokenize(text);
  const tf: Record<string, number> = {};
  for (const t of tokens) tf[t] = (tf[t] ?? 0) + 1;
  return { slug, title, hash: await sha256(text), words, tokens: tokens.length, tf };
}

function documentFrequencies(docs: readonly Parsed[]): DocFreq {
  const df: Record<string, number> = {};
  for (const doc of docs) for (const term in doc.tf) df[term] = (df[term] ?? 0) + 1;
  return { docs: docs.length, df };
}

function score(doc: Parsed, freq: DocFreq, topK: number): Scored {
  const weights: Record<string, number> = {};
  let sum = 0;
  for (const [term, count] of Object.entries(doc.tf)) {
    // Smoothed inverse document frequency: ln((1 + N) / (1 + df)) + 1.
    const idf = Math.log((1 + freq.docs) / (1 + freq.df[term])) + 1;
    const w = (count / doc.tokens) * idf;
    weights[term] = w;
    sum += w * w;
  }
  const top = Object.entries(weights).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, topK);
  return {
    slug: doc.slug,
    title: doc.title,
    hash: doc.hash,
    tokens: doc.tokens,
    weights,
    norm: Math.sqrt(sum),
    top,
  };
}

/** The bodies that run in the cpu pool; each context parameter says what the body reads, and a typed workflow checks it. */
export const cpu = defineTasks(import.meta.url, {
  /** `parse:<slug>`: tokenizes, counts terms, hashes the content of `fetch:<slug>`. */
  parse: ({ taskId, deps }: TaskContext<unknown, { readonly [id: `fetch:${string}`]: string }>) => {
    const slug = taskId.slice("parse:".length);
    return parse(slug, deps[`fetch:${slug}`]);
  },
  /** `score:<slug>`: TF-IDF weights and top terms of `parse:<slug>`, given `df`. */
  score: (
    { taskId, deps, input }: TaskContext<
      { topK: number },
      { readonly df: DocFreq; readonly [id: `parse:${string}`]: Parsed }
    >,
  ) => {
    const slug = taskId.slice("score:".length);
    return score(deps[`parse:${slug}`], deps.df, input.topK);
  },
  /** `df`: document frequency of every term (fan-in over every `parse:<slug>`). */
  df: ({ deps }: TaskContext<unknown, { readonly [id: `parse:${string}`]: Parsed }>) =>
    documentFrequencies(Object.values(deps)),
});
