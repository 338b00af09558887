import { zigguratWasmBase64 } from "../../ml/engine/ziggurat-wasm.js";

/**
 * Standard normal draws by the ziggurat method (Marsaglia & Tsang 2000, 128 layers) on WebAssembly
 * (src/ml/engine/assembly/ziggurat.ts: the word stream it reads, and what it does about floating point).
 * The JavaScript loop it replaces spent ~11 ns a draw, most of a DP-SGD step of the MLP (101,770 draws).
 */
export interface Ziggurat {
  /** One N(0, 1) draw, in float64. */
  draw(): number;
  /** values[i] = (values[i] + std · z_i) · scale, in float64 (rounded to float32 once for float32 values). */
  addTo(values: Float32Array | Float64Array, std: number, scale: number): void;
}

/** Fills `out` with independent uniform 32-bit words (the only randomness the sampler uses). */
export type WordFill = (out: Uint32Array) => void;

// The ziggurat's tables (Marsaglia & Tsang 2000, RNOR's zigset with 128 layers): kn the acceptance
// bounds on |hz|, wn the widths per unit of hz, fn the density at each layer's edge.
const r = 3.442619855899;
const kn = new Float64Array(128);
const wn = new Float64Array(128);
const fn = new Float64Array(128);
{
  const m1 = 2147483648;
  const vn = 9.91256303526217e-3;
  let dn = r;
  let tn = dn;
  const q = vn / Math.exp(-0.5 * dn * dn);
  kn[0] = (dn / q) * m1;
  kn[1] = 0;
  wn[0] = q / m1;
  wn[127] = dn / m1;
  fn[0] = 1;
  fn[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = (dn / tn) * m1;
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / m1;
  }
}

/**
 * The rectangle test |hz| < kn[iz] on integers: |hz| < ⌈kn⌉ (0 for an empty layer), compared unsigned
 * (2^31, the magnitude of −2^31, is past every bound: all kn are below 2^31).
 */
const bound = Uint32Array.from(kn, (k) => Math.ceil(k));

/** The tables as the kernel reads them (and as a test's reference implementation may). */
export const zigguratTables = { r, bound, width: wn, density: fn } as const;

/** Words per refill: 64 KiB, the most node:crypto's randomFillSync gives in one request to OpenSSL's DRBG. */
export const wordsPerRefill = 16384;
/** Values per kernel call: the caller's values are copied in and out through this much of the memory. */
const chunk = 16384;

let compiled: WebAssembly.Module | undefined;

interface ZigguratExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  zigguratSetup(tables: number, words: number, wordCount: number): void;
  zigguratAdd(values: number, n: number, std: number, scale: number): void;
  zigguratAdd64(values: number, n: number, std: number, scale: number): void;
  zigguratDraw(): number;
}

/** A sampler with its own module instance and memory, reading the words `fill` writes. */
export function createZiggurat(fill: WordFill): Ziggurat {
  compiled ??= new WebAssembly.Module(Buffer.from(zigguratWasmBase64, "base64"));
  let words = new Uint32Array(0);
  const instance = new WebAssembly.Instance(compiled, { env: { refill: () => fill(words) } });
  const k = instance.exports as unknown as ZigguratExports;
  const tablesAt = k.heapBase();
  const tableBytes = 257 * 8 + 128 * 4;
  const wordsAt = tablesAt + 16 * Math.ceil(tableBytes / 16);
  const stagingAt = wordsAt + wordsPerRefill * 4;
  const missing = stagingAt + chunk * 8 - k.memory.buffer.byteLength;
  if (missing > 0) k.memory.grow(Math.ceil(missing / 65536));
  // The memory never grows again, so these views stay valid.
  const tables = new Float64Array(k.memory.buffer, tablesAt, 257);
  tables.set(wn, 0);
  tables.set(fn, 128);
  tables[256] = r;
  new Uint32Array(k.memory.buffer, tablesAt + 257 * 8, 128).set(bound);
  words = new Uint32Array(k.memory.buffer, wordsAt, wordsPerRefill);
  const staging32 = new Float32Array(k.memory.buffer, stagingAt, chunk);
  const staging64 = new Float64Array(k.memory.buffer, stagingAt, chunk);
  k.zigguratSetup(tablesAt, wordsAt, wordsPerRefill);
  return {
    draw: () => k.zigguratDraw(),
    addTo(values, std, scale) {
      const wide = values instanceof Float64Array;
      const staging = wide ? staging64 : staging32;
      const add = wide ? k.zigguratAdd64 : k.zigguratAdd;
      for (let from = 0; from < values.length; from += chunk) {
        const part = values.subarray(from, from + chunk);
        staging.set(part);
        add(stagingAt, part.length, std, scale);
        part.set(part.length === chunk ? staging : staging.subarray(0, part.length));
      }
    },
  };
}
