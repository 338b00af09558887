import dicomParser from "dicom-parser";
import jpeg from "jpeg-js";
import { type J2kDecoder, J2kDecoderNeeded } from "./dicom-j2k.js";

/**
 * DICOM pixel data as stored sample bytes, whatever the transfer syntax: native pixel data as it is,
 * encapsulated frames decoded — JPEG baseline with jpeg-js, JPEG 2000 with OpenJPEG (dicom-j2k.ts), RLE
 * lossless in code (PS3.5 Annex G: PackBits per byte plane). Every other compressed syntax is refused
 * naming it: no maintained decoder for it is bundled.
 */

/** Transfer syntaxes read, by UID. */
export const readableSyntaxes: Record<string, string> = {
  "1.2.840.10008.1.2": "implicit VR little endian",
  "1.2.840.10008.1.2.1": "explicit VR little endian",
  "1.2.840.10008.1.2.2": "explicit VR big endian",
  "1.2.840.10008.1.2.4.50": "JPEG baseline",
  "1.2.840.10008.1.2.4.90": "JPEG 2000 lossless",
  "1.2.840.10008.1.2.4.91": "JPEG 2000",
  "1.2.840.10008.1.2.5": "RLE lossless",
};

const jpeg2000 = new Set(["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"]);

/** Compressed transfer syntaxes refused, by UID, to name them in the refusal. */
const refusedNames: Record<string, string> = {
  "1.2.840.10008.1.2.4.51": "JPEG extended",
  "1.2.840.10008.1.2.4.57": "JPEG lossless",
  "1.2.840.10008.1.2.4.70": "JPEG lossless SV1",
  "1.2.840.10008.1.2.4.80": "JPEG-LS lossless",
  "1.2.840.10008.1.2.4.81": "JPEG-LS near-lossless",
  "1.2.840.10008.1.2.1.99": "deflated explicit VR little endian",
};

/** Throws a plain Error naming the transfer syntax unless its pixel data can be read. */
export function checkSyntax(syntax: string): void {
  if (syntax in readableSyntaxes) return;
  throw new Error(
    `its transfer syntax ${syntax} (${refusedNames[syntax] ?? "unknown"}) is not read; fbm reads ${Object.values(readableSyntaxes).join(", ")}`,
  );
}

export interface PixelLayout {
  rows: number;
  cols: number;
  frames: number;
  /** Bits allocated per sample: 8, 16 or 32. */
  bits: number;
}

/**
 * The stored samples of every frame, `frames × rows × cols × bits/8` bytes, and their byte order:
 * native pixel data keeps the syntax's, decoded frames are little endian. Throws a plain Error.
 */
export function storedPixels(
  ds: dicomParser.DataSet,
  syntax: string,
  layout: PixelLayout,
  j2k?: J2kDecoder,
): { bytes: Uint8Array; little: boolean } {
  const pixels = ds.elements.x7fe00010;
  const { rows, cols, frames, bits } = layout;
  if (!pixels || rows < 1 || cols < 1) throw new Error("it holds no pixel data");
  const frameBytes = rows * cols * (bits / 8);
  if (!pixels.encapsulatedPixelData) {
    if (syntax === "1.2.840.10008.1.2.4.50" || syntax === "1.2.840.10008.1.2.5" || jpeg2000.has(syntax))
      throw new Error(`its transfer syntax ${syntax} is compressed but its pixel data is not encapsulated`);
    const need = frames * frameBytes;
    if (pixels.dataOffset + need > ds.byteArray.length || pixels.length < need) {
      throw new Error(`it is truncated: ${frames} frame(s) of ${rows}×${cols} pixels need ${need} bytes of pixel data`);
    }
    return {
      bytes: ds.byteArray.subarray(pixels.dataOffset, pixels.dataOffset + need),
      little: syntax !== "1.2.840.10008.1.2.2",
    };
  }
  if (jpeg2000.has(syntax) && !j2k) throw new J2kDecoderNeeded("JPEG 2000 pixel data needs the decoder loaded");
  const out = new Uint8Array(frames * frameBytes);
  for (let f = 0; f < frames; f++) {
    const encoded = encapsulatedFrame(ds, pixels, f, frames, syntax);
    const decoded =
      syntax === "1.2.840.10008.1.2.5"
        ? decodeRle(encoded, layout)
        : j2k && jpeg2000.has(syntax)
          ? decodeJpeg2000(j2k, encoded, layout)
          : decodeJpegBaseline(encoded, layout);
    out.set(decoded, f * frameBytes);
  }
  return { bytes: out, little: true };
}

/** Frame `f`'s compressed bytes: one fragment per frame, all fragments of a single frame, or by offset table. */
function encapsulatedFrame(
  ds: dicomParser.DataSet,
  pixels: dicomParser.Element,
  f: number,
  frames: number,
  syntax: string,
): Uint8Array {
  const fragments = pixels.fragments ?? [];
  if (fragments.length === 0) throw new Error("its encapsulated pixel data holds no fragments");
  try {
    if (frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixels, 0, fragments.length);
    if (fragments.length === frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixels, f, 1);
    const table =
      pixels.basicOffsetTable && pixels.basicOffsetTable.length === frames
        ? pixels.basicOffsetTable
        : syntax === "1.2.840.10008.1.2.4.50"
          ? dicomParser.createJPEGBasicOffsetTable(ds, pixels)
          : undefined;
    if (!table) throw new Error(`${fragments.length} fragments for ${frames} frames and no offset table`);
    return dicomParser.readEncapsulatedImageFrame(ds, pixels, f, table);
  } catch (error) {
    const reason = typeof error === "string" ? error : (error as Error).message;
    throw new Error(`frame ${f + 1} of its encapsulated pixel data cannot be read (${reason})`);
  }
}

/** A JPEG baseline frame's 8-bit grayscale samples (the first component of what jpeg-js decodes). */
function decodeJpegBaseline(encoded: Uint8Array, { rows, cols, bits }: PixelLayout): Uint8Array {
  if (bits !== 8) throw new Error(`it is JPEG baseline with ${bits} bits allocated: baseline JPEG holds 8`);
  let image: { width: number; height: number; data: Uint8Array };
  try {
    image = jpeg.decode(encoded, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: Math.max(1, Math.ceil((rows * cols) / 1e6)),
    });
  } catch (error) {
    throw new Error(`its JPEG frame cannot be decoded (${(error as Error).message ?? String(error)})`);
  }
  if (image.width !== cols || image.height !== rows) {
    throw new Error(`its JPEG frame is ${image.width}×${image.height}, not the ${cols}×${rows} of its header`);
  }
  // Decoded as 3 samples a pixel; a grayscale JPEG repeats its one component.
  const out = new Uint8Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = image.data[i * 3];
  return out;
}

/** A JPEG 2000 frame's samples as little-endian bytes of the header's bits allocated (8 or 16). */
function decodeJpeg2000(j2k: J2kDecoder, encoded: Uint8Array, { rows, cols, bits }: PixelLayout): Uint8Array {
  let frame: ReturnType<J2kDecoder>;
  try {
    frame = j2k(encoded);
  } catch (error) {
    throw new Error(`its JPEG 2000 frame cannot be decoded (${(error as Error).message ?? String(error)})`);
  }
  // OpenJPEG reports bytes that are no codestream as a 0×0 frame rather than failing.
  if (frame.width === 0 || frame.height === 0) throw new Error("its JPEG 2000 frame cannot be decoded (no image)");
  if (frame.width !== cols || frame.height !== rows) {
    throw new Error(`its JPEG 2000 frame is ${frame.width}×${frame.height}, not the ${cols}×${rows} of its header`);
  }
  if (frame.componentCount !== 1) throw new Error(`its JPEG 2000 frame has ${frame.componentCount} components`);
  const decodedBytes = frame.bitsPerSample <= 8 ? 1 : 2;
  if (decodedBytes !== bits / 8) {
    throw new Error(
      `its JPEG 2000 frame holds ${frame.bitsPerSample}-bit samples but its header allocates ${bits} bits`,
    );
  }
  if (frame.bytes.length !== rows * cols * decodedBytes) throw new Error("its JPEG 2000 frame decoded short");
  return frame.bytes;
}

/**
 * An RLE lossless frame (PS3.5 Annex G): a 64-byte header (segment count, then up to 15 offsets), one
 * PackBits segment per byte plane, most significant plane first; returned as little-endian samples.
 */
export function decodeRle(encoded: Uint8Array, { rows, cols, bits }: PixelLayout): Uint8Array {
  if (encoded.length < 64) throw new Error("its RLE frame is shorter than its 64-byte header");
  const view = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  const segments = view.getUint32(0, true);
  const planes = bits / 8;
  if (segments !== planes) {
    throw new Error(`its RLE frame has ${segments} segments, not the ${planes} of ${bits}-bit grayscale`);
  }
  const pixels = rows * cols;
  const out = new Uint8Array(pixels * planes);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : encoded.length;
    if (start < 64 || end > encoded.length || start > end) throw new Error(`its RLE segment ${s + 1} is out of bounds`);
    // Plane s holds byte (planes − 1 − s) of each little-endian sample.
    const byte = planes - 1 - s;
    let i = start;
    let o = 0;
    while (i < end && o < pixels) {
      const n = (encoded[i++] << 24) >> 24;
      if (n >= 0) {
        for (let k = 0; k <= n && o < pixels; k++) out[o++ * planes + byte] = encoded[i++];
      } else if (n !== -128) {
        const value = encoded[i++];
        for (let k = 0; k < 1 - n && o < pixels; k++) out[o++ * planes + byte] = value;
      }
    }
    if (o < pixels || i > end) throw new Error(`its RLE segment ${s + 1} is truncated: ${o} of ${pixels} pixels`);
  }
  return out;
}
