// The line format of the file stores: one JSON record per line, with its
// header first so a scan can index a file without parsing bodies.
//
//   {"crc":<u32>,"seq":<int>,"key":<json string>,"<kind>":<body>}\n
//
// `crc` is the CRC-32 (IEEE) of the body's UTF-8 bytes; `key` is the run id
// (log) or the cache key (cache); `kind` is a lowercase word (`event`,
// `checkpoint`, `entry`).

const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3) of `bytes[start, end)`. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = -1;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One record ready to write. */
export interface EncodedRecord {
  /** The whole line, newline included. */
  bytes: Uint8Array;
  /** Where the body starts and ends within `bytes`. */
  bodyStart: number;
  bodyEnd: number;
}

/** Encodes one record as a line. */
export function encodeRecord(kind: string, seq: number, key: string, value: unknown): Uint8Array {
  const body = encoder.encode(JSON.stringify(value));
  const head = encoder.encode(`{"crc":${crc32(body)},"seq":${seq},"key":${JSON.stringify(key)},"${kind}":`);
  const line = new Uint8Array(head.length + body.length + 2);
  line.set(head, 0);
  line.set(body, head.length);
  line[line.length - 2] = 0x7d; // }
  line[line.length - 1] = 0x0a; // \n
  return line;
}

/** A record's header, found by {@linkcode scanRecord}. */
export interface RecordHeader {
  seq: number;
  key: string;
  kind: string;
  bodyStart: number;
  bodyEnd: number;
}

const PREFIX = encoder.encode('{"crc":');
const SEQ = encoder.encode(',"seq":');
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

/**
 * Checks the line `bytes[start, end)` (without its newline): header shape and checksum.
 *
 * @returns The header, or the reason the line is not a valid record.
 */
export function scanRecord(bytes: Uint8Array, start: number, end: number): RecordHeader | string {
  if (end === start) return "empty line";
  if (!expect(bytes, start, PREFIX)) return "not a record";
  const crc = readUint(bytes, start + PREFIX.length, end);
  if (crc === undefined || !expect(bytes, crc[1], SEQ)) return "bad header";
  const seq = readUint(bytes, crc[1] + SEQ.length, end);
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
  if (crc32(bytes, bodyStart, bodyEnd) !== crc[0]) return "checksum mismatch";
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
