import { unwatchFile, watchFile } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as wait } from "node:timers/promises";
import { writeFileAtomic } from "../../common/atomic-write.js";
import { errorMessage, RuntimeFailure } from "../../common/errors.js";
import { type NodeStatus, readNodeStatus } from "./node-status.js";
import { isAlive } from "./serve-lock.js";
import { type RunningTask, taskLabel } from "./task-cancel.js";

/**
 * The operator's cancel, from another process than `fbm-node serve` (`fbm-node task cancel`, the GUI):
 * the request is `cancel.json` in the node home, written atomically and naming the task; the serving
 * process polls the file (as config-watch.ts does config.json), cancels that task if it still runs it,
 * and removes the file, which tells the requester it was seen.
 */

const CANCEL_FILE = "cancel.json";

/** How often the serving process looks for a request, and how long a requester waits for it to. */
const POLL_MS = 250;
const PICKUP_MS = 10_000;

interface CancelRequest {
  taskId: string;
  requestedAt: string;
}

/** The running task of the serving process on this home, or a RuntimeFailure saying why there is none. */
export async function runningTask(
  homeDir: string,
  taskId?: string,
): Promise<{ pid: number; task: NonNullable<NodeStatus["current"]> & { taskId: string } }> {
  const status = await readNodeStatus(join(homeDir, "status.json"));
  if (!status || status.stopped || !isAlive(status.pid))
    throw new RuntimeFailure(`No task is running: no fbm-node serve is running on ${homeDir}`);
  const task = status.current;
  if (!task?.taskId) throw new RuntimeFailure(`No task is running: the node (pid ${status.pid}) is waiting for one`);
  if (taskId !== undefined && taskId !== task.taskId)
    throw new RuntimeFailure(`Task ${taskId} is not running; the running task is ${task.taskId} (${taskLabel(task)})`);
  return { pid: status.pid, task: { ...task, taskId: task.taskId } };
}

/**
 * Asks the serving process on this home to cancel its running task (only if it is `taskId`, when given),
 * and waits until it has seen the request. Returns the task, the serving process and one line saying so.
 */
export async function requestCancel(
  homeDir: string,
  taskId?: string,
): Promise<{ taskId: string; pid: number; line: string }> {
  const { pid, task } = await runningTask(homeDir, taskId);
  const path = join(homeDir, CANCEL_FILE);
  const request: CancelRequest = { taskId: task.taskId, requestedAt: new Date().toISOString() };
  await writeFileAtomic(path, `${JSON.stringify(request)}\n`);
  const until = Date.now() + PICKUP_MS;
  while (await exists(path)) {
    if (Date.now() > until) {
      await rm(path, { force: true });
      throw new RuntimeFailure(
        `The serving node (pid ${pid}) did not take the cancel request within ${PICKUP_MS / 1000} s`,
      );
    }
    await wait(POLL_MS / 5);
  }
  const line = `Cancelled task ${task.taskId} (${taskLabel(task)}) on the serving node (pid ${pid}); it replies task_cancelled`;
  return { taskId: task.taskId, pid, line };
}

/** In the serving process: cancels the task a request names (see requestCancel) until `close`. */
export function watchCancelRequests(
  homeDir: string,
  running: RunningTask,
  log: { warn: (line: string) => void },
): { close(): void } {
  const path = join(homeDir, CANCEL_FILE);
  let reading = Promise.resolve();
  const check = () => {
    reading = reading.then(async () => {
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch {
        return; // no request
      }
      await rm(path, { force: true });
      let request: Partial<CancelRequest>;
      try {
        request = JSON.parse(text) as Partial<CancelRequest>;
      } catch (error) {
        return log.warn(`Ignored an unreadable cancel request ${path}: ${errorMessage(error)}`);
      }
      if (typeof request.taskId !== "string") return log.warn(`Ignored a cancel request naming no task in ${path}`);
      if (!running.cancel("operator", request.taskId))
        log.warn(`Ignored a cancel request for task ${request.taskId}: it is no longer running`);
    });
  };
  // A request left by a process that stopped before taking it names a task of that process: dropped.
  void rm(path, { force: true });
  watchFile(path, { interval: POLL_MS, persistent: false }, check);
  return { close: () => unwatchFile(path, check) };
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(
    () => true,
    () => false,
  );
}
