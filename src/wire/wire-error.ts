/** Malformed or inconsistent data from a peer: a truncated stream, a header that lies, a bad shape. */
export class WireError extends Error {
  override name = "WireError";
}

/** A peer sent more than a limit allows (parameter bytes beyond the cap): the server answers ResourceExhausted. */
export class WireLimitError extends WireError {
  override name = "WireLimitError";
}

/** A task whose head arrived but whose body cannot be read: the node answers it with an error reply. */
export class UnreadableTaskError extends WireError {
  override name = "UnreadableTaskError";
  constructor(
    readonly taskId: string,
    message: string,
  ) {
    super(message);
  }
}
