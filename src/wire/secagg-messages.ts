import type { FixedPoint } from "../privacy/secagg/fixed-point.js";
import type { Peer, PublicKeys, Revealed, SealedShare } from "../privacy/secagg/messages.js";

/**
 * Secure aggregation as it travels (see README "Secure aggregation"): three tasks of their own
 * (AdvertiseKeys, ShareKeys, Unmasking) and, for MaskedInputCollection, a train task whose reply is
 * the masked input instead of the trained parameters.
 */
export type SecaggTaskBody =
  | { kind: "secagg"; session: string; phase: "advertiseKeys" }
  | { kind: "secagg"; session: string; phase: "shareKeys"; peers: Peer[]; threshold: number }
  | { kind: "secagg"; session: string; phase: "unmask"; survivors: string[]; dropped: string[] };

/** Carried by a train task: the shares sealed for this node and the encoding of its update. */
export interface SecaggMasking extends FixedPoint {
  session: string;
  shares: SealedShare[];
}

export type SecaggReplyBody =
  | { kind: "secagg"; phase: "keys"; keys: PublicKeys }
  | { kind: "secagg"; phase: "shares"; shares: SealedShare[] }
  | { kind: "secagg"; phase: "revealed"; revealed: Revealed };

/** The one tensor a masked reply holds: the masked words of the update and the count, as int32. */
export const MASKED_TENSOR = "secagg.masked";
