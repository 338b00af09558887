/**
 * Writes DICOM Part 10 files in code for tests (PS3.10 §7.1: 128-byte preamble, "DICM", the file meta
 * group in explicit VR little endian, then the data set in the transfer syntax given), grayscale images
 * with the attributes fbm reads.
 */

export interface DicomFixture {
  rows: number;
  cols: number;
  /** Stored pixel values, frame after frame, row-major. */
  values: ArrayLike<number>;
  frames?: number;
  bits?: 8 | 16;
  signed?: boolean;
  slope?: number;
  intercept?: number;
  position?: number[];
  orientation?: number[];
  instance?: number;
  /** [between rows, between columns], as PixelSpacing. */
  pixelSpacing?: [number, number];
  /** Default explicit VR little endian; "implicit" for implicit VR little endian; or any UID (e.g. JPEG). */
  syntax?: "explicit" | "implicit" | string;
  /** Encapsulated pixel data (compressed syntaxes): these fragments after an empty offset table; `values` unused. */
  fragments?: Uint8Array[];
}

const syntaxUid = (s: string | undefined) =>
  s === undefined || s === "explicit" ? "1.2.840.10008.1.2.1" : s === "implicit" ? "1.2.840.10008.1.2" : s;

/** One element; explicit VR uses 4-byte lengths for OB/OW/UN/SQ/UT, 2-byte otherwise. */
function element(group: number, elem: number, vr: string, value: Buffer, explicit: boolean): Buffer {
  const padded =
    value.length % 2 === 0 ? value : Buffer.concat([value, Buffer.from([vr === "UI" || vr === "OB" ? 0 : 0x20])]);
  const tag = Buffer.alloc(4);
  tag.writeUInt16LE(group, 0);
  tag.writeUInt16LE(elem, 2);
  if (!explicit) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(padded.length, 0);
    return Buffer.concat([tag, len, padded]);
  }
  const long = ["OB", "OW", "UN", "SQ", "UT"].includes(vr);
  const head = Buffer.alloc(long ? 8 : 4);
  head.write(vr, 0, "latin1");
  if (long) head.writeUInt32LE(padded.length, 4);
  else head.writeUInt16LE(padded.length, 2);
  return Buffer.concat([tag, head, padded]);
}

const text = (s: string) => Buffer.from(s, "latin1");
const us = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n, 0);
  return b;
};
const ds = (values: number[]) => text(values.map((v) => String(v)).join("\\"));

export function dicomBytes(f: DicomFixture): Buffer {
  const uid = syntaxUid(f.syntax);
  const explicit = uid !== "1.2.840.10008.1.2";
  const bits = f.bits ?? 16;
  const frames = f.frames ?? 1;
  const meta = [
    element(0x0002, 0x0001, "OB", Buffer.from([0, 1]), true),
    element(0x0002, 0x0002, "UI", text("1.2.840.10008.5.1.4.1.1.4"), true),
    element(0x0002, 0x0003, "UI", text(`1.2.826.0.1.3680043.8.498.${f.instance ?? 1}`), true),
    element(0x0002, 0x0010, "UI", text(uid), true),
  ];
  const metaBody = Buffer.concat(meta);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaBody.length, 0);
  const pixels = Buffer.alloc(f.fragments ? 0 : f.rows * f.cols * frames * (bits / 8));
  for (let i = 0; i < (f.fragments ? 0 : f.rows * f.cols * frames); i++) {
    const v = f.values[i];
    if (bits === 8) f.signed ? pixels.writeInt8(v, i) : pixels.writeUInt8(v, i);
    else f.signed ? pixels.writeInt16LE(v, 2 * i) : pixels.writeUInt16LE(v, 2 * i);
  }
  const e = (g: number, el: number, vr: string, v: Buffer) => element(g, el, vr, v, explicit);
  const body = [
    ...(f.instance !== undefined ? [e(0x0020, 0x0013, "IS", text(String(f.instance)))] : []),
    ...(f.position ? [e(0x0020, 0x0032, "DS", ds(f.position))] : []),
    ...(f.orientation ? [e(0x0020, 0x0037, "DS", ds(f.orientation))] : []),
    e(0x0028, 0x0002, "US", us(1)),
    e(0x0028, 0x0004, "CS", text("MONOCHROME2")),
    ...(frames > 1 ? [e(0x0028, 0x0008, "IS", text(String(frames)))] : []),
    e(0x0028, 0x0010, "US", us(f.rows)),
    e(0x0028, 0x0011, "US", us(f.cols)),
    ...(f.pixelSpacing ? [e(0x0028, 0x0030, "DS", ds(f.pixelSpacing))] : []),
    e(0x0028, 0x0100, "US", us(bits)),
    e(0x0028, 0x0101, "US", us(bits)),
    e(0x0028, 0x0102, "US", us(bits - 1)),
    e(0x0028, 0x0103, "US", us(f.signed ? 1 : 0)),
    ...(f.intercept !== undefined ? [e(0x0028, 0x1052, "DS", ds([f.intercept]))] : []),
    ...(f.slope !== undefined ? [e(0x0028, 0x1053, "DS", ds([f.slope]))] : []),
    f.fragments ? encapsulated(f.fragments) : e(0x7fe0, 0x0010, bits === 8 ? "OB" : "OW", pixels),
  ];
  return Buffer.concat([
    Buffer.alloc(128),
    text("DICM"),
    element(0x0002, 0x0000, "UL", groupLength, true),
    metaBody,
    ...body,
  ]);
}

/** Pixel data of undefined length (PS3.5 A.4): an empty basic offset table item, one item per fragment, a delimiter. */
function encapsulated(fragments: Uint8Array[]): Buffer {
  const item = (tag: number, body: Uint8Array) => {
    const padded = body.length % 2 === 0 ? Buffer.from(body) : Buffer.concat([body, Buffer.alloc(1)]);
    const head = Buffer.alloc(8);
    head.writeUInt16LE(0xfffe, 0);
    head.writeUInt16LE(tag, 2);
    head.writeUInt32LE(padded.length, 4);
    return Buffer.concat([head, padded]);
  };
  const head = Buffer.alloc(12);
  head.writeUInt16LE(0x7fe0, 0);
  head.writeUInt16LE(0x0010, 2);
  head.write("OB", 4, "latin1");
  head.writeUInt32LE(0xffffffff, 8);
  return Buffer.concat([
    head,
    item(0xe000, new Uint8Array(0)),
    ...fragments.map((f) => item(0xe000, f)),
    item(0xe0dd, new Uint8Array(0)),
  ]);
}

/**
 * One RLE lossless frame (PS3.5 Annex G) of stored samples (`bits` 8 or 16, unsigned or two's
 * complement): a 64-byte header, then one PackBits segment per byte plane, most significant first.
 */
export function rleFrame(values: ArrayLike<number>, bits: 8 | 16): Buffer {
  const planes = bits / 8;
  const segments: Buffer[] = [];
  for (let p = 0; p < planes; p++) {
    const shift = 8 * (planes - 1 - p);
    const plane = Array.from(values, (v) => ((v < 0 ? v + 2 ** bits : v) >> shift) & 0xff);
    segments.push(packBits(plane));
  }
  const header = Buffer.alloc(64);
  header.writeUInt32LE(planes, 0);
  let offset = 64;
  segments.forEach((segment, i) => {
    header.writeUInt32LE(offset, 4 + 4 * i);
    offset += segment.length;
  });
  return Buffer.concat([header, ...segments]);
}

/** PackBits: runs of 2–128 equal bytes as (1 − n, byte), other bytes as literals (n − 1, bytes…); even length. */
function packBits(bytes: number[]): Buffer {
  const out: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    let run = 1;
    while (i + run < bytes.length && run < 128 && bytes[i + run] === bytes[i]) run++;
    if (run >= 2) {
      out.push((1 - run) & 0xff, bytes[i]);
      i += run;
      continue;
    }
    const start = i;
    while (i < bytes.length && i - start < 128 && !(i + 1 < bytes.length && bytes[i + 1] === bytes[i])) i++;
    if (i === start) i++;
    out.push(i - start - 1, ...bytes.slice(start, i));
  }
  if (out.length % 2 === 1) out.push(0x80); // a no-op byte keeps segments even
  return Buffer.from(out);
}
