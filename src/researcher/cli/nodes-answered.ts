import { RuntimeFailure } from "../../common/errors.js";

/**
 * What `datasets` and `stats` do when fewer nodes answered than `--nodes` asked for: a warning on stderr
 * (the output holds the nodes that did answer), or with `--strict` a runtime failure (exit 1).
 */
export function checkNodesAnswered(options: {
  answered: number;
  wanted: number | undefined;
  waitSeconds: number;
  strict: boolean;
  warn: (line: string) => void;
}): void {
  const { answered, wanted } = options;
  if (wanted === undefined || answered >= wanted) return;
  const message = `Only ${answered} of ${wanted} nodes (--nodes) answered within ${options.waitSeconds} s: start the missing nodes or give --wait more seconds`;
  if (options.strict) throw new RuntimeFailure(`${message} (--strict)`);
  options.warn(`Warning: ${message}; the output holds the ${answered} that did`);
}
