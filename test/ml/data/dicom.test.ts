import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { dicomBytes, rleFrame } from "../../../scripts/lib/dicom-writer.js";
import { j2kFrame } from "../../../scripts/lib/j2k-writer.js";
import { grayJpeg } from "../../../scripts/lib/jpeg-gray-writer.js";
import { readDicomImage, readDicomVolume } from "../../../src/ml/data/dicom.js";
import { inspectMedicalFolder, medicalFolderFingerprint } from "../../../src/ml/data/medical-folder.js";
import { nodeCli } from "../../support/cli.js";

const root = mkdtempSync(join(tmpdir(), "fbm-dicom-"));
after(() => rmSync(root, { recursive: true, force: true }));

const rows = 3;
const cols = 4;
/** Three slices at z 2.5, 0 and 5, written as b.dcm, c.dcm (implicit VR) and a.dcm: names do not give the order. */
function writeSeries(dir: string): void {
  mkdirSync(dir, { recursive: true });
  [2.5, 0, 5].forEach((z, f) => {
    const values = Array.from({ length: rows * cols }, (_, i) => ((i * 37 + f * 11) % 50) - 20);
    writeFileSync(
      join(dir, `${["b", "c", "a"][f]}.dcm`),
      dicomBytes({
        rows,
        cols,
        values,
        signed: true,
        slope: 0.5,
        intercept: -7,
        position: [1, 2, z],
        orientation: [1, 0, 0, 0, 1, 0],
        pixelSpacing: [0.8, 0.6],
        instance: f + 1,
        syntax: f === 1 ? "implicit" : "explicit",
      }),
    );
  });
}

describe("DICOM", () => {
  it("reads a series sorted by position with the modality LUT, equal to pydicom", async () => {
    const dir = join(root, "series");
    writeSeries(dir);
    const v = await readDicomVolume(dir);
    assert.deepEqual(v.dims, [4, 3, 3]);
    assert.deepEqual(v.spacing, [0.6, 0.8, 2.5]);
    assert.equal(v.datatype, "int16");
    // Made once with python3-pydicom 2.3.1: the files sorted by ImagePositionPatient[2],
    // np.stack([apply_modality_lut(d.pixel_array, d) for d in files]).flatten().
    const pydicom = [
      -11.5, 7.0, 0.5, -6.0, -12.5, 6.0, -0.5, -7.0, -13.5, 5.0, -1.5, -8.0, -17.0, 1.5, -5.0, -11.5, 7.0, 0.5, -6.0,
      -12.5, 6.0, -0.5, -7.0, -13.5, -6.0, -12.5, 6.0, -0.5, -7.0, -13.5, 5.0, -1.5, -8.0, -14.5, 4.0, -2.5,
    ];
    assert.deepEqual([...v.data], pydicom);
    assert.deepEqual(v.affine[2], [0, 0, 2.5, 0]);
  });

  it("reads a multi-frame 8-bit file as one volume", async () => {
    const path = join(root, "multi.dcm");
    writeFileSync(
      path,
      dicomBytes({ rows, cols, frames: 2, bits: 8, values: Array.from({ length: 24 }, (_, i) => i * 3) }),
    );
    const v = await readDicomVolume(path);
    assert.deepEqual(v.dims, [4, 3, 2]);
    // pydicom: apply_modality_lut(pixel_array) of shape (2, 3, 4) is 0, 3, …, 69.
    assert.deepEqual(
      [...v.data],
      Array.from({ length: 24 }, (_, i) => i * 3),
    );
  });

  it("reads RLE lossless frames (16-bit signed, 8-bit, multi-frame) exactly as the stored values", () => {
    const values = Array.from({ length: rows * cols }, (_, i) => [-300, -300, -300, 5, 4096, 4096, 7, -1][i % 8]);
    const rle = dicomBytes({
      rows,
      cols,
      values: [],
      signed: true,
      slope: 2,
      intercept: -1,
      syntax: "1.2.840.10008.1.2.5",
      fragments: [rleFrame(values, 16)],
    });
    const native = dicomBytes({ rows, cols, values, signed: true, slope: 2, intercept: -1 });
    assert.deepEqual([...readDicomImage(rle).data], [...readDicomImage(native).data]);
    // python3-pydicom 2.3.1 (its native RLE handler) on this file: apply_modality_lut(pixel_array) gives
    // -601, -601, -601, 9, 8191, 8191, 13, -3, -601, -601, -601, 9 — that is, 2v − 1.
    assert.deepEqual(
      [...readDicomImage(rle).data],
      values.map((v) => 2 * v - 1),
    );
    const frames = [0, 1].map((f) => Array.from({ length: rows * cols }, (_, i) => (i * 17 + f * 90) % 256));
    const multi = dicomBytes({
      rows,
      cols,
      frames: 2,
      bits: 8,
      values: [],
      syntax: "1.2.840.10008.1.2.5",
      fragments: frames.map((v) => rleFrame(v, 8)),
    });
    // pydicom 2.3.1: pixel_array of shape (2, 3, 4) holds the two frames as written.
    assert.deepEqual([...readDicomImage(multi).data], frames.flat());
    const cut = rleFrame(values, 16).subarray(0, 70);
    assert.throws(
      () => readDicomImage(dicomBytes({ rows, cols, values: [], syntax: "1.2.840.10008.1.2.5", fragments: [cut] })),
      /its RLE segment 1 (is out of bounds|is truncated)/,
    );
  });

  it("reads JPEG 2000 frames (16-bit signed, 8-bit multi-frame) exactly as encoded losslessly by OpenJPEG", async () => {
    const [w, h] = [48, 40];
    const values = Array.from({ length: w * h }, (_, i) => ((i * 7919) % 5000) - 1200);
    const path = join(root, "j2k.dcm");
    writeFileSync(
      path,
      dicomBytes({
        rows: h,
        cols: w,
        values: [],
        signed: true,
        slope: 2,
        intercept: -1,
        syntax: "1.2.840.10008.1.2.4.90",
        fragments: [await j2kFrame(values, w, h, { bits: 16, signed: true })],
      }),
    );
    const volume = await readDicomVolume(path);
    assert.deepEqual(volume.dims, [w, h, 1]);
    assert.deepEqual(
      [...volume.data],
      values.map((v) => 2 * v - 1),
    );
    const frames = [0, 1].map((f) => Array.from({ length: w * h }, (_, i) => (i * 13 + f * 101) % 256));
    const multi = join(root, "j2k-multi.dcm");
    writeFileSync(
      multi,
      dicomBytes({
        rows: h,
        cols: w,
        frames: 2,
        bits: 8,
        values: [],
        syntax: "1.2.840.10008.1.2.4.91",
        fragments: await Promise.all(frames.map((v) => j2kFrame(v, w, h, { bits: 8 }))),
      }),
    );
    assert.deepEqual([...(await readDicomVolume(multi)).data], frames.flat());
    // A frame whose size disagrees with the header is refused in one line.
    const wrong = join(root, "j2k-wrong.dcm");
    writeFileSync(
      wrong,
      dicomBytes({
        rows: h,
        cols: w,
        bits: 8,
        values: [],
        syntax: "1.2.840.10008.1.2.4.91",
        fragments: [await j2kFrame(frames[0].slice(0, 32 * 40), 32, 40, { bits: 8 })],
      }),
    );
    await assert.rejects(readDicomVolume(wrong), /its JPEG 2000 frame is 32×40, not the 48×40 of its header$/);
    const garbage = join(root, "j2k-garbage.dcm");
    writeFileSync(
      garbage,
      dicomBytes({
        rows: h,
        cols: w,
        bits: 8,
        values: [],
        syntax: "1.2.840.10008.1.2.4.91",
        fragments: [Buffer.alloc(20, 1)],
      }),
    );
    await assert.rejects(readDicomVolume(garbage), /its JPEG 2000 frame cannot be decoded/);
  });

  it("reads JPEG baseline frames decoded by jpeg-js, within one grey level of the encoded pixels", () => {
    const w = 13;
    const h = 10;
    // A smooth gradient and a flat 8×8 block (exact in JPEG: its DCT has only a DC term).
    const pixels = Array.from({ length: w * h }, (_, i) => {
      const x = i % w;
      const y = Math.floor(i / w);
      return x < 8 && y < 8 ? 200 : Math.round(20 + 15 * x + 4 * y);
    });
    const bytes = dicomBytes({
      rows: h,
      cols: w,
      bits: 8,
      values: [],
      slope: 0.5,
      intercept: 10,
      syntax: "1.2.840.10008.1.2.4.50",
      fragments: [grayJpeg(pixels, w, h)],
    });
    const image = readDicomImage(bytes);
    assert.deepEqual([image.rows, image.cols, image.datatype], [h, w, "uint8"]);
    const stored = [...image.data].map((v) => (v - 10) / 0.5);
    assert.ok(
      stored.every((v, i) => Math.abs(v - pixels[i]) <= 1),
      "within one grey level",
    );
    assert.equal(stored[0], 200);
    assert.equal(stored[7 * w + 7], 200);
    const two = dicomBytes({
      rows: h,
      cols: w,
      bits: 8,
      frames: 2,
      values: [],
      syntax: "1.2.840.10008.1.2.4.50",
      fragments: [
        grayJpeg(pixels, w, h),
        grayJpeg(
          pixels.map((v) => 255 - v),
          w,
          h,
        ),
      ],
    });
    const both = readDicomImage(two).data;
    assert.ok(both.subarray(w * h).every((v, i) => Math.abs(v - (255 - pixels[i])) <= 1));
    const wrongSize = dicomBytes({
      rows: 4,
      cols: 4,
      bits: 8,
      values: [],
      syntax: "1.2.840.10008.1.2.4.50",
      fragments: [grayJpeg(pixels, w, h)],
    });
    assert.throws(() => readDicomImage(wrongSize), /its JPEG frame is 13×10, not the 4×4 of its header/);
  });

  it("refuses other compressed transfer syntaxes by name, truncated pixel data and non-DICOM bytes", () => {
    const jpegLs = dicomBytes({ rows, cols, values: new Array(12).fill(0), syntax: "1.2.840.10008.1.2.4.80" });
    assert.throws(
      () => readDicomImage(jpegLs),
      /^Error: its transfer syntax 1\.2\.840\.10008\.1\.2\.4\.80 \(JPEG-LS lossless\) is not read; fbm reads .*JPEG baseline, JPEG 2000 lossless, JPEG 2000, RLE lossless$/,
    );
    for (const [uid, name] of [
      ["1.2.840.10008.1.2.4.81", "JPEG-LS near-lossless"],
      ["1.2.840.10008.1.2.4.57", "JPEG lossless"],
      ["1.2.840.10008.1.2.4.70", "JPEG lossless SV1"],
    ]) {
      const bytes = dicomBytes({ rows, cols, values: new Array(12).fill(0), syntax: uid });
      assert.throws(() => readDicomImage(bytes), new RegExp(`${uid.replaceAll(".", "\\.")} \\(${name}\\) is not read`));
    }
    const whole = dicomBytes({ rows, cols, values: new Array(12).fill(1) });
    assert.throws(() => readDicomImage(whole.subarray(0, whole.length - 6)), /truncated|not a readable DICOM/);
    assert.throws(() => readDicomImage(Buffer.alloc(300)), /not a readable DICOM Part 10 file/);
  });

  it("dataset add registers RLE and JPEG series and refuses a JPEG-LS slice in one line naming its syntax", async () => {
    const home = join(root, "home");
    assert.equal((await nodeCli("init", "--home", home, "--name", "site-a")).code, 0);
    const dir = join(root, "compressed");
    const slice = (syntax: string, fragment: Uint8Array, z: number) =>
      dicomBytes({
        rows: 8,
        cols: 8,
        bits: 8,
        values: [],
        position: [0, 0, z],
        orientation: [1, 0, 0, 0, 1, 0],
        syntax,
        fragments: [fragment],
      });
    const pixels = Array.from({ length: 64 }, (_, i) => (i * 3) % 256);
    for (const s of ["sub-1", "sub-2"]) {
      mkdirSync(join(dir, s, "CT"), { recursive: true });
      writeFileSync(join(dir, s, "CT", "1.dcm"), slice("1.2.840.10008.1.2.5", rleFrame(pixels, 8), 0));
      writeFileSync(join(dir, s, "CT", "2.dcm"), slice("1.2.840.10008.1.2.4.50", grayJpeg(pixels, 8, 8), 1));
    }
    const add = (name: string) =>
      nodeCli(
        "dataset",
        "add",
        "--home",
        home,
        "--type",
        "medical-folder",
        "--path",
        dir,
        "--name",
        name,
        "--tags",
        "ct",
      );
    const ok = await add("ct");
    assert.equal(ok.code, 0, ok.stderr);
    writeFileSync(join(dir, "sub-2", "CT", "2.dcm"), slice("1.2.840.10008.1.2.4.80", Buffer.alloc(20, 1), 1));
    const refused = await add("ct2");
    assert.equal(refused.code, 2);
    const lines = refused.stderr.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 1, refused.stderr);
    assert.match(
      lines[0],
      /subject "sub-2" CT volume cannot be read: slice 2 of 2: its transfer syntax 1\.2\.840\.10008\.1\.2\.4\.80 \(JPEG-LS lossless\) is not read/,
    );
  });

  it("takes DICOM series folders and files as modalities of a medical folder, fingerprinting every slice", async () => {
    const dir = join(root, "folder");
    writeSeries(join(dir, "sub-001", "CT"));
    writeSeries(join(dir, "sub-002", "CT"));
    const info = await inspectMedicalFolder(dir);
    assert.deepEqual(
      info.modalities.map((m) => [m.name, m.subjects, m.shapes, m.spacing]),
      [["CT", 2, [[4, 3, 3]], [0.6, 0.8, 2.5]]],
    );
    writeFileSync(
      join(dir, "sub-002", "CT", "b.dcm"),
      dicomBytes({ rows, cols, values: new Array(12).fill(3), position: [1, 2, 2.5], orientation: [1, 0, 0, 0, 1, 0] }),
    );
    assert.notEqual(await medicalFolderFingerprint(dir), info.sha256, "a changed slice changes the fingerprint");
    writeFileSync(join(dir, "sub-002", "CT", "c.dcm"), Buffer.alloc(200));
    await assert.rejects(
      inspectMedicalFolder(dir),
      /subject "sub-002" CT volume cannot be read: slice 3 of 3: it is not a readable DICOM Part 10 file/,
    );
  });
});
