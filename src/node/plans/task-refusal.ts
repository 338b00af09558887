import { InputError } from "../../common/errors.js";
import type { ReplyErrorCode } from "../../wire/index.js";

/**
 * A task the node will not run, with the code its error reply carries (executors/index.ts sends it as
 * is), for checks deep inside a task (the dataset loader, training) that cannot return a reply.
 */
export class TaskRefusal extends InputError {
  constructor(
    readonly code: ReplyErrorCode,
    message: string,
  ) {
    super(message);
  }
}
