import { Code, ConnectError } from "@connectrpc/connect";

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

/**
 * The gRPC status a wire error stands for: ResourceExhausted past a limit, InvalidArgument for anything
 * malformed; undefined for an error that is not the wire's. The researcher answers with it and the node
 * fails its call with it, so both ends name a bad stream alike.
 */
export function wireErrorStatus(error: unknown): ConnectError | undefined {
  if (error instanceof WireLimitError) return new ConnectError(error.message, Code.ResourceExhausted);
  if (error instanceof WireError) return new ConnectError(error.message, Code.InvalidArgument);
  return undefined;
}
