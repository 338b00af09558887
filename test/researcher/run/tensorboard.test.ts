import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tensorboardFiles } from "../../../src/researcher/run/tensorboard.js";

// An independent reader of what TensorBoard reads: CRC32C, TFRecord framing and the protobuf wire
// format written out here from their specifications, sharing no code with the writer.

/** CRC32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit. */
function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
const masked = (crc: number) => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;

function readRecords(file: Uint8Array): Uint8Array[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const records: Uint8Array[] = [];
  for (let at = 0; at < file.length; ) {
    const length = Number(view.getBigUint64(at, true));
    assert.equal(view.getUint32(at + 8, true), masked(crc32c(file.subarray(at, at + 8))), "length CRC");
    const data = file.subarray(at + 12, at + 12 + length);
    assert.equal(view.getUint32(at + 12 + length, true), masked(crc32c(data)), "data CRC");
    records.push(data);
    at += 16 + length;
  }
  return records;
}

type Field = { number: number; varint?: bigint; bytes?: Uint8Array; fixed64?: DataView; fixed32?: DataView };

function readFields(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  let at = 0;
  const varint = () => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = buf[at++];
      value |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return value;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const number = key >> 3;
    const wire = key & 7;
    if (wire === 0) fields.push({ number, varint: varint() });
    else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      const view = new DataView(buf.buffer, buf.byteOffset + at, size);
      fields.push(wire === 1 ? { number, fixed64: view } : { number, fixed32: view });
      at += size;
    } else if (wire === 2) {
      const length = Number(varint());
      fields.push({ number, bytes: buf.subarray(at, at + length) });
      at += length;
    } else throw new Error(`wire type ${wire}`);
  }
  return fields;
}

/** tensorflow.Event: wall_time 1 (double), step 2, file_version 3, summary 5 → value 1 → tag 1, simple_value 2. */
function readEvent(record: Uint8Array) {
  const fields = readFields(record);
  const event: { wallTime?: number; step: number; fileVersion?: string; scalars: Record<string, number> } = {
    step: 0,
    scalars: {},
  };
  for (const f of fields) {
    if (f.number === 1) event.wallTime = f.fixed64?.getFloat64(0, true);
    if (f.number === 2) event.step = Number(f.varint);
    if (f.number === 3) event.fileVersion = new TextDecoder().decode(f.bytes);
    if (f.number !== 5 || !f.bytes) continue;
    for (const value of readFields(f.bytes).filter((v) => v.number === 1)) {
      const parts = readFields(value.bytes as Uint8Array);
      const tag = new TextDecoder().decode(parts.find((p) => p.number === 1)?.bytes);
      event.scalars[tag] = parts.find((p) => p.number === 2)?.fixed32?.getFloat32(0, true) as number;
    }
  }
  return event;
}

const round = (n: number) => ({
  event: "round",
  round: n,
  rounds: 2,
  nodes: [
    { node: "node_a", name: "hospital-a", samples: 40, loss: 0.5 / n, seconds: 1, global: { accuracy: 0.6 + n / 10 } },
    { node: "node_b", name: "hospital b", samples: 60, loss: 0.4 / n, seconds: 1, global: { accuracy: 0.7 } },
  ],
  failed: [],
  loss: 0.44 / n,
  metrics: { global: { accuracy: 0.75, auc: 0.875 } },
  auc_error: { global: 0.001 },
  privacy: { epsilon: n * 0.5, delta: 1e-5 },
  seconds: 2,
  time: 1_700_000_000 + n,
});

describe("tensorboardFiles", () => {
  it("the independent CRC32C matches the standard check value", () => {
    assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  });

  it("writes TFRecord event files an independent reader parses: pooled and per node, per round", () => {
    const files = tensorboardFiles([{ event: "datasets", nodes: [] }, round(1), round(2)]);
    assert.deepEqual([...files.keys()].sort(), [
      "tensorboard/hospital-a/events.out.tfevents.1700000001.fbm",
      "tensorboard/hospital_b-node_b/events.out.tfevents.1700000001.fbm",
      "tensorboard/pooled/events.out.tfevents.1700000001.fbm",
    ]);
    const read = (dir: string) =>
      readRecords(files.get(`tensorboard/${dir}/events.out.tfevents.1700000001.fbm`) as Uint8Array).map(readEvent);
    const pooled = read("pooled");
    assert.equal(pooled[0].fileVersion, "brain.Event:2");
    assert.deepEqual(
      pooled.slice(1).map((e) => [e.step, e.wallTime]),
      [
        [1, 1_700_000_001],
        [2, 1_700_000_002],
      ],
    );
    const f32 = (v: number) => Math.fround(v);
    assert.deepEqual(pooled[2].scalars, {
      loss: f32(0.22),
      "global/accuracy": 0.75,
      "global/auc": 0.875,
      "auc_error/global": f32(0.001),
      "privacy/epsilon": 1,
      "privacy/delta": f32(1e-5),
      nodes: 2,
      failed: 0,
      seconds: 2,
    });
    assert.deepEqual(read("hospital-a")[1].scalars, { loss: 0.5, "global/accuracy": f32(0.7), samples: 40 });
    assert.deepEqual(
      read("hospital_b-node_b").map((e) => e.scalars.loss),
      [undefined, f32(0.4), f32(0.2)],
    );
  });

  it("writes nothing before the first round", () => {
    assert.equal(tensorboardFiles([]).size, 0);
  });
});
