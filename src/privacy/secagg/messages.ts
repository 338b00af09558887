/** What the secure aggregation rounds exchange (plain data; src/wire maps it onto the schema). */

/** A node's two public keys (AdvertiseKeys): c_pk encrypts shares, s_pk derives pairwise masks. */
export interface PublicKeys {
  cipherKey: Uint8Array;
  maskKey: Uint8Array;
}

/** With `verify`: the node's signature over its keys (signatures.ts) and its identity certificate (DER). */
export interface KeySignature {
  signature: Uint8Array;
  identity: Uint8Array;
}

/** A neighbour as the researcher relays it: its id, its x coordinate for shares (≥ 1), its keys (signed with verify). */
export interface Peer extends PublicKeys {
  id: string;
  index: number;
  signed?: KeySignature;
}

/** A node's signature in ConsistencyCheck, as relayed to the other survivors. */
export interface ConsistencySignature {
  node: string;
  signature: Uint8Array;
}

/** One encrypted share, relayed by the researcher from `from` to `to`; it cannot read it. */
export interface SealedShare {
  from: string;
  to: string;
  box: Uint8Array;
}

/** A share a node reveals in Unmasking: of node `of`'s self-mask seed or of its mask key. */
export interface RevealedShare {
  of: string;
  share: Uint8Array;
}

/** A node's Unmasking answer: seed shares of the survivors, mask-key shares of the dropped, never both for one node. */
export interface Revealed {
  seedShares: RevealedShare[];
  keyShares: RevealedShare[];
}
