// The line format of the file stores: one JSON record per line, with its
// header first so a scan can index a file without parsing bodies.
//
//   {"crc":"<8 hex digits>","seq":<int>,"key":<json string>,"<kind>":<body>}\n
//
// `crc` is the CRC-32 (IEEE) of the body's UTF-8 bytes, fixed width so a
// batch is encoded in one pass and the checksum patched in; `key` is the run id
// (log) or the cache key (cache); `kind` is a lowercase word (`event`,
// `checkpoint`, `entry`).

import { LogCorruptedError } from "../src/errors.ts";

// Slicing-by-4 tables: T0 is the classic byte table, Tk[n] advances T0[n] by k zero bytes.
const T = (() => {
  const t = new Int32Array(4 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 4; k++) t[k * 256 + n] = t[(k - 1) * 256 + n] >>> 8 ^ t[t[(k - 1) * 256 + n] & 0xff];
  }
  return t;
})();

/** CRC-32 (IEEE 802.3) of `bytes[start, end)`. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = -1;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    c ^= bytes[i] | bytes[i + 1] << 8 | bytes[i + 2] << 16 | bytes[i + 3] << 24;
    c = T[768 + (c & 0xff)] ^ T[512 + (c >>> 8 & 0xff)] ^ T[256 + (c >>> 16 & 0xff)] ^ T[c >>> 24];
  }
  for (; i < end; i++) c = T[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A record to encode. */
export interface RecordInput {
  kind: string;
  seq: number;
  key: string;
  value: unknown;
}

const HEX = new TextEncoder().encode("0123456789abcdef");
let scratch = new Uint8Array(1 << 16);

/**
 * Encodes records as lines, in one buffer.
 *
 * @returns The bytes and the end offset of each line within them.
 */
export function encodeRecords(records: readonly RecordInput[]): { bytes: Uint8Array; ends: number[] } {
  let pos = 0;
  const ends: number[] = new Array(records.length);
  for (let r = 0; r < records.length; r++) {
    const { kind, seq, key, value } = records[r];
    const body = JSON.stringify(value) ?? "null";
    const head = `{"crc":"00000000","seq":${seq},"key":${JSON.stringify(key)},"${kind}":`;
    const need = pos + (head.length + body.length) * 3 + 2;
    if (need > scratch.length) {
      const grown = new Uint8Array(Math.max(need, scratch.length * 2));
      grown.set(scratch.subarray(0, pos));
      scratch = grown;
    }
    const crcAt = pos + 8;
    pos += encoder.encodeInto(head, scratch.subarray(pos)).written;
    const bodyStart = pos;
    pos += encoder.encodeInto(body, scratch.subarray(pos)).written;
    let crc = crc32(scratch, bodyStart, pos);
    for (let k = 7; k >= 0; k--) {
      scratch[crcAt + k] = HEX[crc & 0xf];
      crc >>>= 4;
    }
    scratch[pos++] = 0x7d; // }
    scratch[pos++] = 0x0a; // \n
    ends[r] = pos;
  }
  return { bytes: scratch.slice(0, pos), ends };
}

/** Encodes one record as a line. */
export function encodeRecord(kind: string, seq: number, key: string, value: unknown): Uint8Array {
  return encodeRecords([{ kind, seq, key, value }]).bytes;
}

/** A record's header, found by {@linkcode scanRecord}. */
export interface RecordHeader {
  seq: number;
  key: string;
  kind: string;
  bodyStart: number;
  bodyEnd: number;
}

const PREFIX = encoder.encode('{"crc":"');
const SEQ = encoder.encode('","seq":');
const KEY = encoder.encode(',"key":"');

function expect(bytes: Uint8Array, at: number, what: Uint8Array): boolean {
  if (at + what.length > bytes.length) return false;
  for (let i = 0; i < what.length; i++) if (bytes[at + i] !== what[i]) return false;
  return true;
}

function readUint(bytes: Uint8Array, at: number, end: number): [number, number] | undefined {
  let value = 0;
  let i = at;
  while (i < end && bytes[i] >= 0x30 && bytes[i] <= 0x39 && i - at < 16) value = value * 10 + bytes[i++] - 0x30;
  return i === at ? undefined : [value, i];
}

function readHex(bytes: Uint8Array, at: number, end: number): number | undefined {
  if (at + 8 > end) return undefined;
  let value = 0;
  for (let i = at; i < at + 8; i++) {
    const c = bytes[i];
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (digit < 0) return undefined;
    value = value * 16 + digit;
  }
  return value;
}

/**
 * Checks the line `bytes[start, end)` (without its newline): header shape and checksum.
 *
 * @returns The header, or the reason the line is not a valid record.
 */
export function scanRecord(bytes: Uint8Array, start: number, end: number): RecordHeader | string {
  if (end === start) return "empty line";
  if (!expect(bytes, start, PREFIX)) return "not a record";
  const crc = readHex(bytes, start + PREFIX.length, end);
  if (crc === undefined || !expect(bytes, start + PREFIX.length + 8, SEQ)) return "bad header";
  const seq = readUint(bytes, start + PREFIX.length + 8 + SEQ.length, end);
  if (seq === undefined || !expect(bytes, seq[1], KEY)) return "bad header";
  const keyStart = seq[1] + KEY.length - 1; // at the opening quote
  let i = keyStart + 1;
  let escaped = false;
  while (i < end && bytes[i] !== 0x22) {
    if (bytes[i] === 0x5c) {
      escaped = true;
      i++;
    }
    i++;
  }
  if (i >= end) return "bad header";
  const key = escaped
    ? JSON.parse(decoder.decode(bytes.subarray(keyStart, i + 1))) as string
    : decoder.decode(bytes.subarray(keyStart + 1, i));
  // ,"<kind>":
  if (bytes[i + 1] !== 0x2c || bytes[i + 2] !== 0x22) return "bad header";
  let k = i + 3;
  while (k < end && bytes[k] >= 0x61 && bytes[k] <= 0x7a) k++;
  if (k === i + 3 || bytes[k] !== 0x22 || bytes[k + 1] !== 0x3a) return "bad header";
  const kind = decoder.decode(bytes.subarray(i + 3, k));
  const bodyStart = k + 2;
  const bodyEnd = end - 1;
  if (bodyEnd < bodyStart || bytes[bodyEnd] !== 0x7d) return "truncated record";
  if (crc32(bytes, bodyStart, bodyEnd) !== crc) return "checksum mismatch";
  return { seq: seq[0], key, kind, bodyStart, bodyEnd };
}

/** Parses a record's body. */
export function parseBody<T>(bytes: Uint8Array, header: { bodyStart: number; bodyEnd: number }): T {
  return JSON.parse(decoder.decode(bytes.subarray(header.bodyStart, header.bodyEnd))) as T;
}

/** A valid line of a scanned file. */
export interface ScannedLine extends RecordHeader {
  /** Its byte offset. */
  start: number;
  /** The offset just past its newline. */
  end: number;
  /** Its line number, from 1. */
  line: number;
}

/** Where a file stops being valid. */
export interface Damage {
  /** The first damaged line, from 1. */
  line: number;
  /** Its byte offset. */
  offset: number;
  /** What is wrong with it. */
  reason: string;
}

/**
 * Scans a whole file: every line must be a valid record. Damage that runs to
 * the end of the file (a torn or garbage tail) is returned with the offset
 * where the valid part ends; damage followed by a valid record is returned as `middle`.
 */
export function scanFile(
  bytes: Uint8Array,
  onLine: (line: ScannedLine) => void,
): { validEnd: number; tail?: Damage; middle?: Damage } {
  let pos = 0;
  let line = 1;
  let validEnd = 0;
  let bad: Damage | undefined;
  while (pos < bytes.length) {
    const nl = bytes.indexOf(0x0a, pos);
    const end = nl < 0 ? bytes.length : nl;
    const header = nl < 0 ? "no newline at the end (torn write)" : scanRecord(bytes, pos, end);
    if (typeof header === "string") {
      bad ??= { line, offset: pos, reason: header };
    } else {
      if (bad !== undefined) return { validEnd, middle: bad };
      onLine({ ...header, start: pos, end: end + 1, line });
      validEnd = end + 1;
    }
    pos = end + 1;
    line++;
  }
  return bad === undefined ? { validEnd } : { validEnd, tail: bad };
}

/**
 * Why a file is not a record file, or `undefined` when it is one (perhaps with
 * a damaged tail). Such a file has content but no valid record, and is not
 * just one torn record (a first write cut short: no newline, starts like a
 * record); cutting its "tail" would empty it.
 */
export function notARecordFile(bytes: Uint8Array, scan: { validEnd: number; tail?: Damage }): string | undefined {
  if (bytes.length === 0 || scan.validEnd > 0 || scan.tail === undefined) return undefined;
  const head = bytes.subarray(0, Math.min(bytes.length, PREFIX.length));
  const startsLikeRecord = head.every((b, i) => b === PREFIX[i]);
  if (!startsLikeRecord) return "its first line is not a record";
  if (bytes.indexOf(0x0a) >= 0) return `it holds no valid record: line 1 is damaged (${scan.tail.reason})`;
  return undefined; // one torn record: the first write was cut short
}

/** What cutting a damaged tail removed. */
export interface CutTail {
  /** The file. */
  path: string;
  /** The first damaged line, from 1. */
  line: number;
  /** What was wrong with it. */
  reason: string;
  /** Bytes kept. */
  validBytes: number;
  /** Bytes cut. */
  droppedBytes: number;
}

/**
 * Acts on a scan of a whole file: damage followed by valid records is an
 * error naming the line (nothing is cut); a damaged tail is cut off and synced.
 *
 * @returns What was cut, or `undefined` for an intact file.
 * @throws {LogCorruptedError} Damage in the middle (the file is closed).
 */
export async function cutDamagedTail(
  file: Deno.FsFile,
  path: string,
  size: number,
  scan: { validEnd: number; tail?: Damage; middle?: Damage },
): Promise<CutTail | undefined> {
  if (scan.middle !== undefined) {
    file.close();
    throw new LogCorruptedError(path, scan.middle.line, scan.middle.offset, scan.middle.reason);
  }
  if (scan.tail === undefined) return undefined;
  await file.truncate(scan.validEnd);
  await file.syncData();
  return {
    path,
    line: scan.tail.line,
    reason: scan.tail.reason,
    validBytes: scan.validEnd,
    droppedBytes: size - scan.validEnd,
  };
}
