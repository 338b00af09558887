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
      return {
        session: body.session,
        phase: { case: "advertiseKeys", value: { cohort: body.cohort, verify: body.verify } },
      };
    case "shareKeys":
      return {
        session: body.session,
        phase: {
          case: "shareKeys",
          value: {
            threshold: body.threshold,
            cohort: body.cohort,
            neighbours: body.neighbours,
            peers: body.peers.map((p) => ({
              nodeId: p.id,
              index: p.index,
              cipherPublicKey: p.cipherKey,
              maskPublicKey: p.maskKey,
              ...(p.signed ? { signature: p.signed.signature, identity: p.signed.identity } : {}),
            })),
          },
        },
      };
    case "consistency":
      return { session: body.session, phase: { case: "consistency", value: { survivors: body.survivors } } };
    case "unmask":
      return {
        session: body.session,
        phase: {
          case: "unmask",
          value: {
            survivors: body.survivors,
            dropped: body.dropped,
            allSurvivors: body.allSurvivors,
            signatures: body.signatures.map((s) => ({ nodeId: s.node, signature: s.signature })),
          },
        },
      };
  }
}

export function fromSecaggTask(task: SecaggTask): SecaggTaskBody {
  const { session, phase } = task;
  switch (phase.case) {
    case "advertiseKeys":
      return {
        kind: "secagg",
        session,
        phase: "advertiseKeys",
        cohort: phase.value.cohort,
        verify: phase.value.verify,
      };
    case "shareKeys":
      return {
        kind: "secagg",
        session,
        phase: "shareKeys",
        threshold: phase.value.threshold,
        cohort: [...phase.value.cohort],
        neighbours: phase.value.neighbours,
        peers: phase.value.peers.map((p) => ({
          id: p.nodeId,
          index: p.index,
          cipherKey: p.cipherPublicKey,
          maskKey: p.maskPublicKey,
          ...(p.signature.length > 0 ? { signed: { signature: p.signature, identity: p.identity } } : {}),
        })),
      };
    case "consistency":
      return { kind: "secagg", session, phase: "consistency", survivors: [...phase.value.survivors] };
    case "unmask":
      return {
        kind: "secagg",
        session,
        phase: "unmask",
        survivors: [...phase.value.survivors],
        dropped: [...phase.value.dropped],
        allSurvivors: [...phase.value.allSurvivors],
        signatures: phase.value.signatures.map((s) => ({ node: s.nodeId, signature: s.signature })),
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
        phase: {
          case: "keys",
          value: {
            cipherPublicKey: body.keys.cipherKey,
            maskPublicKey: body.keys.maskKey,
            ...(body.signed ? { signature: body.signed.signature, identity: body.signed.identity } : {}),
          },
        },
      };
    case "shares":
      return { phase: { case: "shares", value: { shares: body.shares.map(toSealed) } } };
    case "consistency":
      return { phase: { case: "consistency", value: { signature: body.signature } } };
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
        ...(phase.value.signature.length > 0
          ? { signed: { signature: phase.value.signature, identity: phase.value.identity } }
          : {}),
      };
    case "shares":
      return { kind: "secagg", phase: "shares", shares: phase.value.shares.map(fromSealed) };
    case "consistency":
      return { kind: "secagg", phase: "consistency", signature: phase.value.signature };
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
