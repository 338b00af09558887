import type { FixedPoint } from "../privacy/secagg/fixed-point.js";
import type {
  ConsistencySignature,
  KeySignature,
  Peer,
  PublicKeys,
  Revealed,
  SealedShare,
} from "../privacy/secagg/messages.js";

/**
 * Secure aggregation as it travels (see README "Secure aggregation"): tasks of their own (AdvertiseKeys,
 * ShareKeys, with `verify` ConsistencyCheck, Unmasking) and, for MaskedInputCollection, a train task whose
 * reply is the masked input instead of the trained parameters.
 */
export type SecaggTaskBody =
  | { kind: "secagg"; session: string; phase: "advertiseKeys"; cohort: number; verify: boolean }
  | {
      kind: "secagg";
      session: string;
      phase: "shareKeys";
      peers: Peer[];
      threshold: number;
      /** U1: every node that advertised keys; with `neighbours` the node rebuilds the graph from it. */
      cohort: string[];
      /** SecAgg+ k; 0: every node shares with every other. */
      neighbours: number;
    }
  | { kind: "secagg"; session: string; phase: "consistency"; survivors: string[] }
  | {
      kind: "secagg";
      session: string;
      phase: "unmask";
      survivors: string[];
      dropped: string[];
      /** U3: every node whose masked input is in the sum. */
      allSurvivors: string[];
      /** With `verify`: the survivors' ConsistencyCheck signatures. */
      signatures: ConsistencySignature[];
    };

/** Carried by a train task: the shares sealed for this node and the encoding of its update. */
export interface SecaggMasking extends FixedPoint {
  session: string;
  shares: SealedShare[];
}

export type SecaggReplyBody =
  | { kind: "secagg"; phase: "keys"; keys: PublicKeys; signed?: KeySignature }
  | { kind: "secagg"; phase: "shares"; shares: SealedShare[] }
  | { kind: "secagg"; phase: "consistency"; signature: Uint8Array }
  | { kind: "secagg"; phase: "revealed"; revealed: Revealed };

/** The one tensor a masked reply holds: the masked words of the update and the count, as int32. */
export const MASKED_TENSOR = "secagg.masked";
