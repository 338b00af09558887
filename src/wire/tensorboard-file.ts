import { create, toBinary } from "@bufbuild/protobuf";
import CRC32C from "crc-32/crc32c.js";
import { EventSchema } from "../gen/fbm/tensorboard/v1/event_pb.js";

/**
 * TensorBoard event files: TFRecord framing (tensorflow/core/lib/io/record_writer.cc) around Event
 * messages. Each record is the data's length (uint64 LE), the masked CRC32C of those 8 bytes, the
 * data, and the masked CRC32C of the data.
 */

/** Scalars logged at one step (a round), at a wall time in seconds since the epoch. */
export interface ScalarStep {
  step: number;
  wallTime: number;
  scalars: Record<string, number>;
}

/** A whole event file: the version record, then one record per step holding its finite scalars. */
export function toEventFile(steps: ScalarStep[], startTime: number): Uint8Array {
  const version = create(EventSchema, { wallTime: startTime, what: { case: "fileVersion", value: "brain.Event:2" } });
  return Buffer.concat([toRecord(toBinary(EventSchema, version)), toEventRecords(steps)]);
}

/** The records of these steps, to append to an event file. */
export function toEventRecords(steps: ScalarStep[]): Uint8Array {
  const records = steps.map((s) =>
    toRecord(
      toBinary(
        EventSchema,
        create(EventSchema, {
          wallTime: s.wallTime,
          step: BigInt(s.step),
          what: {
            case: "summary",
            value: {
              value: Object.entries(s.scalars)
                .filter(([, v]) => Number.isFinite(v))
                .map(([tag, v]) => ({ tag, value: { case: "simpleValue" as const, value: v } })),
            },
          },
        }),
      ),
    ),
  );
  return Buffer.concat(records);
}

/** One TFRecord. */
export function toRecord(data: Uint8Array): Uint8Array {
  const out = Buffer.alloc(data.length + 16);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

/** CRC32C as TFRecord stores it: rotated right by 15 bits plus a constant, so CRCs of CRCs differ. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = CRC32C.buf(data) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}
