import { seaAsset } from "../../common/sea.js";

/**
 * JPEG 2000 frames of DICOM (transfer syntaxes 1.2.840.10008.1.2.4.90 lossless and .91) decoded by
 * OpenJPEG compiled to WebAssembly (`@cornerstonejs/codec-openjpeg`, Cornerstone's maintained build, its
 * decode-only module). The module is instantiated once per process, the first time a volume needs it; a
 * single executable carries its .wasm as an asset (scripts/lib/sea-build.ts).
 */

/** The SEA asset name of the decoder's binary (node_modules/@cornerstonejs/codec-openjpeg/dist/…). */
export const j2kWasmAsset = "openjpegwasm_decode.wasm";

export interface J2kFrame {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned: boolean;
  /** Samples, little endian: 1 byte each up to 8 bits, else 2. */
  bytes: Uint8Array;
}

/** A ready decoder: synchronous once loaded, so DICOM reading stays synchronous per file. */
export type J2kDecoder = (encoded: Uint8Array) => J2kFrame;

/** Raised when a JPEG 2000 frame is met before the decoder was loaded; readDicomVolume loads it and retries. */
export class J2kDecoderNeeded extends Error {}

interface OpenJpegModule {
  J2KDecoder: new () => {
    getEncodedBuffer(length: number): Uint8Array;
    decode(): void;
    getFrameInfo(): Omit<J2kFrame, "bytes">;
    getDecodedBuffer(): Uint8Array;
    delete(): void;
  };
}

let loading: Promise<J2kDecoder> | undefined;

export function loadJ2kDecoder(): Promise<J2kDecoder> {
  loading ??= instantiate().catch((error: unknown) => {
    loading = undefined;
    throw new Error(`the JPEG 2000 decoder cannot start (${(error as Error).message ?? String(error)})`);
  });
  return loading;
}

async function instantiate(): Promise<J2kDecoder> {
  // Imported when first needed (a static specifier, so esbuild bundles it into the executables).
  const factory = (await import("@cornerstonejs/codec-openjpeg/decodewasmjs")).default as (options: {
    wasmBinary?: ArrayBuffer;
    print?: (line: string) => void;
    printErr?: (line: string) => void;
  }) => Promise<OpenJpegModule>;
  // Inside a single executable the module cannot find its .wasm beside its script: hand it the bytes.
  const embedded = seaAsset(j2kWasmAsset);
  // OpenJPEG logs every header it reads on stdout: quiet, keeping its last complaint for the error.
  let complaint = "";
  const codec = await factory({
    ...(embedded ? { wasmBinary: embedded } : {}),
    print: () => {},
    printErr: (line: string) => {
      complaint = line;
    },
  });
  return (encoded) => {
    const decoder = new codec.J2KDecoder();
    complaint = "";
    try {
      decoder.getEncodedBuffer(encoded.length).set(encoded);
      try {
        decoder.decode();
      } catch (error) {
        throw new Error(complaint.replace(/^\[ERROR\]\s*/, "") || String(error));
      }
      const info = decoder.getFrameInfo();
      // Copied out: the decoder's buffer lives in the module's memory and goes with it.
      return { ...info, bytes: Uint8Array.from(decoder.getDecodedBuffer()) };
    } finally {
      decoder.delete();
    }
  };
}
