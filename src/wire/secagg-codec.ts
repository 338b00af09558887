import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  SecaggMasking as SecaggMaskingPb,
  SecaggMaskingSchema,
  SecaggReply,
  SecaggReplySchema,
  SecaggSealedShare,
  SecaggTask,
  SecaggTaskSchema,
} from "../gen/fbm/v1/researcher_pb.js";
import type { SealedShare } from "../privacy/secagg/messages.js";
import type { SecaggMasking, SecaggReplyBody, SecaggTaskBody } from "./secagg-messages.js";
import { WireError } from "./wire-error.js";

/** Secure aggregation messages ⇄ their protobuf shapes (the pairs round-trip; see test/wire). */

const toSealed = (s: SealedShare) => ({ from: s.from, to: s.to, sealed: s.box });
const fromSealed = (s: SecaggSealedShare): SealedShare => ({ from: s.from, to: s.to, box: s.sealed });

export function toSecaggTaskInit(body: SecaggTaskBody): MessageInitShape<typeof SecaggTaskSchema> {
  switch (body.phase) {
    case "advertiseKeys":
      return { session: body.session, phase: { case: "advertiseKeys", value: {} } };
    case "shareKeys":
      return {
        session: body.session,
        phase: {
          case: "shareKeys",
          value: {
            threshold: body.threshold,
            peers: body.peers.map((p) => ({
              nodeId: p.id,
              index: p.index,
              cipherPublicKey: p.cipherKey,
              maskPublicKey: p.maskKey,
            })),
          },
        },
      };
    case "unmask":
      return {
        session: body.session,
        phase: { case: "unmask", value: { survivors: body.survivors, dropped: body.dropped } },
      };
  }
}

export function fromSecaggTask(task: SecaggTask): SecaggTaskBody {
  const { session, phase } = task;
  switch (phase.case) {
    case "advertiseKeys":
      return { kind: "secagg", session, phase: "advertiseKeys" };
    case "shareKeys":
      return {
        kind: "secagg",
        session,
        phase: "shareKeys",
        threshold: phase.value.threshold,
        peers: phase.value.peers.map((p) => ({
          id: p.nodeId,
          index: p.index,
          cipherKey: p.cipherPublicKey,
          maskKey: p.maskPublicKey,
        })),
      };
    case "unmask":
      return {
        kind: "secagg",
        session,
        phase: "unmask",
        survivors: [...phase.value.survivors],
        dropped: [...phase.value.dropped],
      };
    default:
      throw new WireError("Secure aggregation task of an unknown phase");
  }
}

export function toMaskingInit(m: SecaggMasking): MessageInitShape<typeof SecaggMaskingSchema> {
  return { session: m.session, shares: m.shares.map(toSealed), clip: m.clip, bits: m.bits };
}

export function fromMasking(m: SecaggMaskingPb | undefined): SecaggMasking | undefined {
  return m?.session ? { session: m.session, shares: m.shares.map(fromSealed), clip: m.clip, bits: m.bits } : undefined;
}

export function toSecaggReplyInit(body: SecaggReplyBody): MessageInitShape<typeof SecaggReplySchema> {
  switch (body.phase) {
    case "keys":
      return {
        phase: { case: "keys", value: { cipherPublicKey: body.keys.cipherKey, maskPublicKey: body.keys.maskKey } },
      };
    case "shares":
      return { phase: { case: "shares", value: { shares: body.shares.map(toSealed) } } };
    case "revealed":
      return {
        phase: {
          case: "revealed",
          value: { seedShares: body.revealed.seedShares, keyShares: body.revealed.keyShares },
        },
      };
  }
}

export function fromSecaggReply(reply: SecaggReply): SecaggReplyBody {
  const { phase } = reply;
  switch (phase.case) {
    case "keys":
      return {
        kind: "secagg",
        phase: "keys",
        keys: { cipherKey: phase.value.cipherPublicKey, maskKey: phase.value.maskPublicKey },
      };
    case "shares":
      return { kind: "secagg", phase: "shares", shares: phase.value.shares.map(fromSealed) };
    case "revealed":
      return {
        kind: "secagg",
        phase: "revealed",
        revealed: {
          seedShares: phase.value.seedShares.map((s) => ({ of: s.of, share: s.share })),
          keyShares: phase.value.keyShares.map((s) => ({ of: s.of, share: s.share })),
        },
      };
    default:
      throw new WireError("Secure aggregation reply of an unknown phase");
  }
}
