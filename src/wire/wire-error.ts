/** Malformed or inconsistent data from a peer: a truncated stream, a header that lies, a bad shape. */
export class WireError extends Error {
  override name = "WireError";
}

/** A peer sent more than a limit allows (parameter bytes beyond the cap): the server answers ResourceExhausted. */
export class WireLimitError extends WireError {
  override name = "WireLimitError";
}
