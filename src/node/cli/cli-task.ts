import { Command } from "@commander-js/extra-typings";
import { readConfig } from "../config/home.js";
import { requestCancel } from "../serve/cancel-request.js";
import type { CliContext } from "./cli-context.js";

/** `fbm-node task cancel`: the operator stops the task the serving process on this home is running. */
export function taskCommand(ctx: CliContext): Command {
  const task = new Command("task").description("the task `fbm-node serve` is running on this home");
  task
    .command("cancel")
    .description(
      "stop the running task (within one training batch); it answers the researcher task_cancelled. Exit 1 when none runs",
    )
    .argument("[task-id]", "cancel only if this task is the one running (see `fbm-node gui` or status.json)")
    .action(async (taskId) => {
      const dir = ctx.homeDir();
      await readConfig(dir); // a folder that is no node home says so
      const cancelled = await requestCancel(dir, taskId);
      ctx.result({ cancelled: cancelled.taskId, pid: cancelled.pid }, cancelled.line);
    });
  return task;
}
