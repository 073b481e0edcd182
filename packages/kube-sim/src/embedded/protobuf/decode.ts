/**
 * Kubernetes' protobuf encoding of an object (`application/vnd.kubernetes.protobuf`), decoded to
 * the JSON form the rest of the embedded cluster works with. The body is the 4 bytes `k8s\0`,
 * then a runtime.Unknown message: typeMeta (1: apiVersion 1, kind 2), raw (2: the object's own
 * message), contentEncoding (3), contentType (4). Empty and zero fields are left out as Go's JSON
 * encoder leaves out `omitempty` fields; fields the schemas do not know are refused unless empty.
 */
import { type FieldSpec, KINDS, MESSAGES, type Scalar } from './schemas.ts';
import {
  readFields,
  signed,
  WIRE_BYTES,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WIRE_VARINT,
  WireError,
  type WireField,
} from './wire.ts';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = [0x6b, 0x38, 0x73, 0x00];
const MAX_DEPTH = 32;

/** `unsupported`: well formed, but a kind or field this decoder does not know (answer 415). */
export class ProtobufDecodeError extends Error {
  constructor(
    message: string,
    readonly unsupported: boolean,
  ) {
    super(message);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function text(b: Uint8Array, path: string): string {
  try {
    return utf8.decode(b);
  } catch {
    throw new ProtobufDecodeError(`${path}: not UTF-8`, false);
  }
}

function fields(b: Uint8Array, path: string): WireField[] {
  try {
    return readFields(b);
  } catch (err) {
    if (err instanceof WireError) throw new ProtobufDecodeError(`${path}: ${err.message}`, false);
    throw err;
  }
}

/** The kinds accepted as protobuf, for messages. */
export function protobufKinds(): string[] {
  return Object.values(KINDS);
}

export function decodeKubeProtobuf(buf: Uint8Array): Record<string, unknown> {
  if (buf.length < MAGIC.length || MAGIC.some((b, i) => buf[i] !== b))
    throw new ProtobufDecodeError('the body does not start with the k8s\\0 prefix', false);
  let apiVersion = '';
  let kind = '';
  let raw: Uint8Array = new Uint8Array(0);
  let encoding = '';
  for (const f of fields(buf.subarray(MAGIC.length), 'envelope')) {
    if (f.wire !== WIRE_BYTES) continue;
    if (f.num === 1) {
      for (const t of fields(f.value, 'typeMeta')) {
        if (t.wire !== WIRE_BYTES) continue;
        if (t.num === 1) apiVersion = text(t.value, 'apiVersion');
        if (t.num === 2) kind = text(t.value, 'kind');
      }
    } else if (f.num === 2) raw = f.value;
    else if (f.num === 3) encoding = text(f.value, 'contentEncoding');
  }
  if (!apiVersion || !kind) throw new ProtobufDecodeError('the envelope names no apiVersion or kind', false);
  if (encoding) throw new ProtobufDecodeError(`content encoding "${encoding}" is not supported`, true);
  const message = KINDS[`${apiVersion}/${kind}`];
  if (!message) throw new ProtobufDecodeError(`${apiVersion} ${kind} cannot be sent as protobuf here`, true);
  return { apiVersion, kind, ...decodeMessage(raw, message, kind, 0) };
}

function decodeMessage(buf: Uint8Array, name: string, path: string, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw new ProtobufDecodeError(`${path}: nested too deeply`, false);
  const spec = MESSAGES[name]!;
  const out: Record<string, unknown> = {};
  for (const f of fields(buf, path)) {
    const fs = spec[f.num];
    if (!fs) {
      if (!isEmpty(f, 0))
        throw new ProtobufDecodeError(`${path}: field ${f.num} of ${name} is not supported`, true);
      continue;
    }
    if (fs.type === 'skip') continue;
    const at = `${path}.${fs.name}`;
    if (fs.map) {
      const [k, v] = mapEntry(f, fs.map, at, depth);
      out[fs.name] ??= {};
      (out[fs.name] as Record<string, unknown>)[k] = v;
      continue;
    }
    const v = value(f, fs, at, depth);
    if (fs.repeated) {
      out[fs.name] ??= [];
      (out[fs.name] as unknown[]).push(v ?? '');
      continue;
    }
    if (v === undefined || (!fs.keepZero && isZero(v))) continue;
    out[fs.name] = v;
  }
  return out;
}

function expect(f: WireField, wire: number, path: string): void {
  if (f.wire !== wire) throw new ProtobufDecodeError(`${path}: wire type ${f.wire}, expected ${wire}`, false);
}

function value(f: WireField, fs: FieldSpec, path: string, depth: number): unknown {
  const t = fs.type;
  if (typeof t === 'object') {
    expect(f, WIRE_BYTES, path);
    return decodeMessage(f.value as Uint8Array, t.message, path, depth + 1);
  }
  return scalar(f, t as Scalar, path);
}

function scalar(f: WireField, t: Scalar, path: string): unknown {
  switch (t) {
    case 'int':
      expect(f, WIRE_VARINT, path);
      return signed(f.value as bigint);
    case 'bool':
      expect(f, WIRE_VARINT, path);
      return (f.value as bigint) !== 0n;
    case 'string':
      expect(f, WIRE_BYTES, path);
      return text(f.value as Uint8Array, path);
    case 'bytes':
      expect(f, WIRE_BYTES, path);
      return Buffer.from(f.value as Uint8Array).toString('base64');
    case 'quantity': {
      expect(f, WIRE_BYTES, path);
      let q = '';
      for (const g of fields(f.value as Uint8Array, path))
        if (g.num === 1 && g.wire === WIRE_BYTES) q = text(g.value, path);
      return q;
    }
    case 'time': {
      expect(f, WIRE_BYTES, path);
      let seconds = 0;
      for (const g of fields(f.value as Uint8Array, path))
        if (g.num === 1 && g.wire === WIRE_VARINT) seconds = signed(g.value);
      // metav1.Time has second precision in JSON; the zero time is sent empty.
      if (seconds === 0) return undefined;
      const d = new Date(seconds * 1000);
      if (Number.isNaN(d.getTime())) throw new ProtobufDecodeError(`${path}: time out of range`, false);
      return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
    case 'intstr': {
      expect(f, WIRE_BYTES, path);
      let type = 0;
      let intVal = 0;
      let strVal = '';
      for (const g of fields(f.value as Uint8Array, path)) {
        if (g.num === 1 && g.wire === WIRE_VARINT) type = signed(g.value);
        if (g.num === 2 && g.wire === WIRE_VARINT) intVal = signed(g.value);
        if (g.num === 3 && g.wire === WIRE_BYTES) strVal = text(g.value, path);
      }
      return type === 1 ? strVal : intVal;
    }
  }
}

function mapEntry(f: WireField, of: Scalar, path: string, depth: number): [string, unknown] {
  expect(f, WIRE_BYTES, path);
  let key = '';
  let v: unknown = '';
  for (const g of fields(f.value as Uint8Array, path)) {
    if (g.num === 1) {
      expect(g, WIRE_BYTES, path);
      key = text(g.value as Uint8Array, path);
    } else if (g.num === 2) v = value(g, { name: 'value', type: of }, `${path}[${key}]`, depth);
  }
  return [key, v];
}

function isZero(v: unknown): boolean {
  if (v === '' || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && v !== null && Object.keys(v).length === 0;
}

/**
 * True when a field the schemas do not know carries nothing: 0, an empty string or message, or a
 * message whose fields all carry nothing (Go writes non-pointer structs even when empty).
 */
function isEmpty(f: WireField, depth: number): boolean {
  if (f.wire === WIRE_VARINT) return f.value === 0n;
  if (f.wire === WIRE_FIXED64 || f.wire === WIRE_FIXED32) return f.value.every((b) => b === 0);
  if (f.value.length === 0) return true;
  if (depth >= MAX_DEPTH) return false;
  try {
    return readFields(f.value).every((g) => isEmpty(g, depth + 1));
  } catch {
    return false;
  }
}
