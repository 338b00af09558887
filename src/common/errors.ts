/**
 * Errors users can act on. `exitCode` is what README.md (Using it) documents: 2 bad usage or input, 1 runtime failure,
 * 130 interrupted. Only the entry files turn these into `process.exit`.
 */
export type ExitCode = 1 | 2 | 130;

export class FbmError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad usage or bad input: unknown flag, malformed file, invalid plan. Exit 2. */
export class InputError extends FbmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 2, options);
  }
}

/** The work could not be done: not enough nodes, a round failed. Exit 1. */
export class RuntimeFailure extends FbmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
  }
}

/** Interrupted by SIGINT/SIGTERM. Exit 130. */
export class Interrupted extends FbmError {
  constructor(message = "Interrupted") {
    super(message, 130);
  }
}

/** The message of any thrown value: an Error's (or error-like object's) message, else the value as text. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null && "message" in error) return String(error.message);
  return String(error);
}

/** The stack of a thrown Error (its message if it has none), else the value as text: for logs of unexpected errors. */
export function errorStack(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** What the machine ran out of or refused (not a bug): said as it is, without "Unexpected failure". */
const environmentCodes = new Set(["ENOSPC", "EDQUOT", "EROFS", "EIO", "EMFILE", "ENFILE"]);

/**
 * A `.catch` for a write to `path`: the file system's write errors name no file ("ENOSPC: no space left
 * on device, write"), so the error is rethrown with the file named, its `code` kept.
 */
export function namingFile(path: string): (error: unknown) => never {
  return (error) => {
    const message = errorMessage(error);
    if (message.includes(path)) throw error;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    throw Object.assign(new Error(`Cannot write ${path}: ${message}`, { cause: error }), { code, path });
  };
}

/** The one line printed for an error, and its exit code; unknown errors are runtime failures. */
export function describeError(error: unknown): { message: string; exitCode: ExitCode } {
  if (error instanceof FbmError) return { message: error.message, exitCode: error.exitCode };
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === "string" && environmentCodes.has(code)) return { message: errorMessage(error), exitCode: 1 };
  return { message: `Unexpected failure: ${errorMessage(error)}`, exitCode: 1 };
}
