import type { DTypeName, NamedTensor } from "../ml/types.js";
import { WireError, WireLimitError } from "./wire-error.js";

/**
 * Named tensors as they travel: a header (name, shape, dtype per tensor) plus one run of raw
 * little-endian bytes, tensor after tensor without padding, cut into chunks. The only place that
 * turns tensors into bytes and back.
 */

export interface TensorSpec {
  name: string;
  shape: number[];
  dtype: DTypeName;
}

export interface ParamsHeader {
  tensors: TensorSpec[];
  totalBytes: number;
}

/**
 * About 1 MiB: small enough for any proxy, large enough that per-message overhead vanishes. Just under
 * 1 MiB, so a chunk's message with its field tags fits the protobuf writer's 1 MiB buffer (it grows by
 * doubling: 1 MiB of data plus 8 bytes of framing would take 2 MiB for every chunk sent to every node).
 */
export const DEFAULT_CHUNK_BYTES = (1 << 20) - 64;

const BYTES_PER_ELEMENT = 4;
const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The header describing `tensors`; checks that each tensor's data fits its shape. */
export function toParamsHeader(tensors: readonly NamedTensor[]): ParamsHeader {
  let totalBytes = 0;
  const specs = tensors.map((t) => {
    if (t.data.length !== elementCount(t.shape)) {
      throw new WireError(
        `Tensor "${t.name}" has ${t.data.length} values but shape [${t.shape}] needs ${elementCount(t.shape)}`,
      );
    }
    totalBytes += t.data.length * BYTES_PER_ELEMENT;
    return { name: t.name, shape: [...t.shape], dtype: t.dtype };
  });
  return { tensors: specs, totalBytes };
}

/**
 * The raw little-endian bytes of `tensors`, as chunks of at most `chunkBytes`. A whole chunk inside one
 * tensor is a view of the tensor's own bytes (no copy, no allocation, on little-endian hosts); only runs
 * that straddle tensors are copied, into a buffer of min(`chunkBytes`, bytes left), so a 40 KB model
 * costs 40 KB, not a 1 MiB chunk. The views share memory with `tensors`: do not change them while sending.
 */
export function* toChunks(tensors: readonly NamedTensor[], chunkBytes = DEFAULT_CHUNK_BYTES): Generator<Uint8Array> {
  if (chunkBytes < BYTES_PER_ELEMENT || chunkBytes % BYTES_PER_ELEMENT !== 0) {
    throw new WireError(`Chunk size must be a positive multiple of 4, got ${chunkBytes}`);
  }
  let left = tensors.reduce((n, t) => n + t.data.length * BYTES_PER_ELEMENT, 0);
  let chunk: Uint8Array | undefined;
  let used = 0;
  for (const tensor of tensors) {
    const bytes = tensorBytes(tensor);
    let offset = 0;
    while (offset < bytes.length) {
      if (!chunk && bytes.length - offset >= chunkBytes) {
        yield bytes.subarray(offset, offset + chunkBytes);
        offset += chunkBytes;
        left -= chunkBytes;
        continue;
      }
      chunk ??= new Uint8Array(Math.min(chunkBytes, left));
      const n = Math.min(chunk.length - used, bytes.length - offset);
      chunk.set(bytes.subarray(offset, offset + n), used);
      used += n;
      offset += n;
      left -= n;
      if (used === chunk.length) {
        yield chunk;
        chunk = undefined;
        used = 0;
      }
    }
  }
}

function tensorBytes(tensor: NamedTensor): Uint8Array {
  const view = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  if (littleEndianHost) return view;
  const out = new Uint8Array(view.length);
  const dv = new DataView(out.buffer);
  tensor.data.forEach((v, i) => {
    if (tensor.dtype === "int32") dv.setInt32(i * 4, v, true);
    else dv.setFloat32(i * 4, v, true);
  });
  return out;
}

/**
 * Rebuilds tensors from a header and its chunks, holding only the output buffers (O(model)).
 * `push` rejects bytes past the header's total; `finish` rejects a stream that ended short.
 */
export interface ParamsAssembler {
  push(chunk: Uint8Array): void;
  finish(): NamedTensor[];
  readonly received: number;
}

/** How `fromChunks` assembles: the size limit, and where its buffer comes from. */
export interface AssembleOptions {
  maxBytes?: number;
  /**
   * The buffer for the whole payload, of exactly `bytes` bytes, starting at its ArrayBuffer's offset 0
   * (a BufferPool's `take`, buffer-pool.ts); it may hold old bytes: every one is written before `finish`
   * succeeds. Default: a fresh buffer.
   */
  buffer?: (bytes: number) => Uint8Array;
}

export function fromChunks(header: ParamsHeader, options: AssembleOptions = {}): ParamsAssembler {
  const expected = toCheckedTotal(header, options.maxBytes);
  const buffer = options.buffer ? options.buffer(expected) : new Uint8Array(expected);
  if (buffer.byteLength !== expected || buffer.byteOffset !== 0) {
    throw new Error(`fromChunks: a buffer of ${expected} bytes at offset 0 was asked for, got ${buffer.byteLength}`);
  }
  let received = 0;
  return {
    get received() {
      return received;
    },
    push(chunk) {
      refuseOverrun(received + chunk.length, expected);
      buffer.set(chunk, received);
      received += chunk.length;
    },
    finish() {
      refuseShortfall(received, expected);
      return splitTensors(header, buffer);
    },
  };
}

/** A run of whole values of tensor `tensor` (header order) from its value `start` on. */
export type ValueRun = (tensor: number, start: number, values: Float32Array | Int32Array) => void;

/**
 * Reads a parameter stream value by value without assembling it: `onValues` sees each run of whole
 * values as their bytes arrive, split at tensor boundaries (a value cut between two chunks comes with
 * the second). The runs are views, of the chunk itself when it is aligned, else of a scratch buffer
 * shared by every reader: valid only during the call. Same length checks as `fromChunks`; `finish`
 * returns no tensors (the caller kept what it needed).
 */
export function readValues(
  header: ParamsHeader,
  onValues: ValueRun,
  options: { maxBytes?: number } = {},
): ParamsAssembler {
  const expected = toCheckedTotal(header, options.maxBytes);
  const sizes = header.tensors.map((t) => elementCount(t.shape) * BYTES_PER_ELEMENT);
  const carry = new Uint8Array(BYTES_PER_ELEMENT);
  let carried = 0;
  let received = 0;
  let tensor = 0;
  let inTensor = 0; // bytes of `tensor` already passed on

  /** Passes on `bytes` (whole values, none past the current tensor's end) and moves along. */
  function emit(bytes: Uint8Array): void {
    room();
    const Typed = header.tensors[tensor].dtype === "int32" ? Int32Array : Float32Array;
    onValues(tensor, inTensor / BYTES_PER_ELEMENT, toValues(bytes, Typed));
    inTensor += bytes.length;
  }

  /** Bytes the current tensor still needs (skipping finished and empty tensors). */
  function room(): number {
    while (tensor < sizes.length && inTensor === sizes[tensor]) {
      tensor++;
      inTensor = 0;
    }
    return tensor < sizes.length ? sizes[tensor] - inTensor : 0;
  }

  return {
    get received() {
      return received;
    },
    push(chunk) {
      refuseOverrun(received + chunk.length, expected);
      received += chunk.length;
      let at = 0;
      if (carried > 0) {
        const n = Math.min(BYTES_PER_ELEMENT - carried, chunk.length);
        carry.set(chunk.subarray(0, n), carried);
        carried += n;
        at = n;
        if (carried < BYTES_PER_ELEMENT) return;
        emit(carry);
        carried = 0;
      }
      while (chunk.length - at >= BYTES_PER_ELEMENT) {
        const whole = chunk.length - at - ((chunk.length - at) % BYTES_PER_ELEMENT);
        const n = Math.min(whole, room());
        emit(chunk.subarray(at, at + n));
        at += n;
      }
      carry.set(chunk.subarray(at), 0);
      carried = chunk.length - at;
    },
    finish() {
      refuseShortfall(received, expected);
      return [];
    },
  };
}

let scratch = new ArrayBuffer(0);

/** `bytes` (a multiple of 4) as values: a view of them when aligned on a little-endian host, else decoded into `scratch`. */
function toValues(bytes: Uint8Array, Typed: typeof Float32Array | typeof Int32Array): Float32Array | Int32Array {
  if (scratch.byteLength < bytes.length) scratch = new ArrayBuffer(bytes.length);
  return asValues(bytes, Typed, scratch);
}

/**
 * `bytes` (little-endian, a multiple of 4) as values: a view of them when aligned on a little-endian
 * host, else decoded into `into` (by default a buffer of their own).
 */
function asValues(
  bytes: Uint8Array,
  Typed: typeof Float32Array | typeof Int32Array,
  into?: ArrayBuffer,
): Float32Array | Int32Array {
  const n = bytes.length / BYTES_PER_ELEMENT;
  if (littleEndianHost && bytes.byteOffset % BYTES_PER_ELEMENT === 0) {
    return new Typed(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  }
  const out = new Typed(into ?? new ArrayBuffer(bytes.length), 0, n);
  if (littleEndianHost) {
    new Uint8Array(out.buffer, 0, bytes.length).set(bytes);
    return out;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < n; i++) out[i] = Typed === Int32Array ? dv.getInt32(i * 4, true) : dv.getFloat32(i * 4, true);
  return out;
}

/** Both-in-one convenience for tests and small payloads. */
export function fromBytes(
  header: ParamsHeader,
  chunks: Iterable<Uint8Array>,
  options: { maxBytes?: number } = {},
): NamedTensor[] {
  const assembler = fromChunks(header, options);
  for (const chunk of chunks) assembler.push(chunk);
  return assembler.finish();
}

function refuseShortfall(received: number, expected: number): void {
  if (received !== expected) throw new WireError(`Parameter stream ended after ${received} of ${expected} bytes`);
}

function refuseOverrun(received: number, expected: number): void {
  if (received > expected) throw new WireError(`Parameter stream is longer than its header says (${expected} bytes)`);
}

function toCheckedTotal(header: ParamsHeader, maxBytes = Number.MAX_SAFE_INTEGER): number {
  let total = 0;
  for (const spec of header.tensors) {
    if (spec.dtype !== "float32" && spec.dtype !== "int32") {
      throw new WireError(`Tensor "${spec.name}" has unsupported dtype "${spec.dtype}"`);
    }
    if (spec.shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new WireError(`Tensor "${spec.name}" has an invalid shape [${spec.shape}]`);
    }
    total += elementCount(spec.shape) * BYTES_PER_ELEMENT;
  }
  if (total !== header.totalBytes) {
    throw new WireError(`Parameter header says ${header.totalBytes} bytes but its tensors need ${total}`);
  }
  if (total > maxBytes) {
    throw new WireLimitError(`Parameters of ${total} bytes exceed the limit of ${maxBytes} bytes`);
  }
  return total;
}

/**
 * The tensors as views into the reassembled buffer (no second copy of the model) on little-endian
 * hosts; the buffer starts its ArrayBuffer (fromChunks checks) and every tensor starts at a multiple of 4
 * bytes, so views are aligned.
 */
function splitTensors(header: ParamsHeader, buffer: Uint8Array): NamedTensor[] {
  let offset = 0;
  return header.tensors.map((spec) => {
    const bytes = buffer.subarray(offset, offset + elementCount(spec.shape) * BYTES_PER_ELEMENT);
    offset += bytes.length;
    const data = asValues(bytes, spec.dtype === "int32" ? Int32Array : Float32Array);
    return { name: spec.name, shape: [...spec.shape], dtype: spec.dtype, data };
  });
}
