// One writer per file: an exclusive OS lock (`flock` on Unix, `LockFileEx` on
// Windows) on a side file `<path>.lock`, never renamed (compaction renames the
// log itself), never deleted (deleting it would let a second opener lock a new
// inode while the first still holds the old one). The kernel drops the lock
// when the holder's process ends, however it ends (SIGKILL included), so a
// lock is never stale: who can take it, may. The side file's text (pid, host,
// since, token) only names the holder in the error of a refused opener.

import { type LogHolder, LogLockedError } from "./errors.ts";

let host: string | undefined;

/** This machine's name: `Deno.hostname()` where allowed, else the kernel's, else `"unknown"`. */
export function thisHost(): string {
  if (host !== undefined) return host;
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
      return host = Deno.hostname();
    }
  } catch {
    // no permissions API, or no sys permission
  }
  for (const file of ["/proc/sys/kernel/hostname", "/etc/hostname"]) {
    try {
      if (Deno.permissions.querySync({ name: "read", path: file }).state !== "granted") continue;
      const name = Deno.readTextFileSync(file).trim();
      if (name.length > 0) return host = name;
    } catch {
      // not there
    }
  }
  return host = "unknown";
}

/** Who this opening is. */
export function newHolder(extra: Partial<LogHolder> = {}): LogHolder {
  return { pid: Deno.pid, host: thisHost(), since: new Date().toISOString(), token: crypto.randomUUID(), ...extra };
}

/** A held lock. */
export interface FileLock {
  /** Who holds it (this opening). */
  readonly holder: LogHolder;
  /** Releases it (clears the holder's name, unlocks, closes the side file). */
  release(): Promise<void>;
}

const encoder = new TextEncoder();

/**
 * Takes the exclusive lock of `path` (its side file `<path>.lock`) without waiting.
 *
 * @throws {LogLockedError} Another opening (this process or another) holds it.
 */
export async function lockFile(path: string, what = `Cannot open log "${path}"`): Promise<FileLock> {
  // One side file per file, however it is named: a symlink or another spelling of the path finds the same lock.
  const lockPath = `${await Deno.realPath(path).catch(() => path)}.lock`;
  const file = await Deno.open(lockPath, { read: true, write: true, create: true });
  let locked = false;
  try {
    locked = await file.tryLock(true);
  } catch (error) {
    file.close();
    throw error;
  }
  if (!locked) {
    file.close();
    throw new LogLockedError(path, await readHolder(lockPath), what);
  }
  const holder = newHolder();
  try {
    await file.truncate(0);
    const bytes = encoder.encode(JSON.stringify(holder) + "\n");
    let done = 0;
    while (done < bytes.length) done += await file.write(bytes.subarray(done));
  } catch (error) {
    await file.unlock().catch(() => {});
    file.close();
    throw error;
  }
  let released = false;
  return {
    holder,
    async release() {
      if (released) return;
      released = true;
      try {
        await file.truncate(0);
      } catch {
        // the name is informative only; the lock is what counts
      }
      try {
        await file.unlock();
      } finally {
        file.close();
      }
    },
  };
}

/** How long a holder's name must stay unchanged in the side file before a refused opener believes it. */
const STABLE_MS = 25;

/**
 * The holder named in a side file. The holder writes its name just after locking, and a holder that was killed left
 * its own name behind, which the next holder overwrites just after locking: a refused opener can read the dead
 * holder's name in between. So a name counts once it stayed the same for `STABLE_MS` (at most ~300 ms of waiting).
 */
async function readHolder(lockPath: string): Promise<LogHolder | undefined> {
  let seen: string | undefined;
  let since = performance.now();
  for (let attempt = 0; attempt < 60; attempt++) {
    let text: string | undefined;
    try {
      text = await Deno.readTextFile(lockPath);
    } catch {
      // being written, or gone
    }
    const now = performance.now();
    if (text !== seen) {
      seen = text;
      since = now;
    } else if (now - since >= STABLE_MS) {
      const holder = parseHolder(text);
      if (holder !== undefined) return holder;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return parseHolder(seen);
}

function parseHolder(text: string | undefined): LogHolder | undefined {
  if (text === undefined || !text.endsWith("\n")) return undefined;
  try {
    const value = JSON.parse(text) as LogHolder;
    if (typeof value?.pid === "number" && typeof value.host === "string") return value;
  } catch {
    // half written
  }
  return undefined;
}
