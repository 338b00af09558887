/** Malformed or inconsistent data from a peer: a truncated stream, a header that lies, a bad shape. */
export class WireError extends Error {
  override name = "WireError";
}
