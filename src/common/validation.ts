import { z } from "zod";
import { didYouMean } from "./did-you-mean.js";
import { InputError } from "./errors.js";
import { keysAt } from "./json-schema-keys.js";

/** One problem in a validated file: where (`plan.model[1].dense.units`) and what. */
export interface Problem {
  path: string;
  message: string;
}

/** Every problem of a file at once (each on its own line after the first), for people and for `--json`. */
export class ValidationError extends InputError {
  constructor(
    readonly what: string,
    readonly problems: Problem[],
  ) {
    super(
      problems.length === 1
        ? `${what}: ${formatProblem(problems[0])}`
        : `${what}: ${problems.length} problems:\n${problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`,
    );
  }
}

function formatProblem(problem: Problem): string {
  return `${problem.path || "(top level)"}: ${problem.message}`;
}

/** `plan.model[1].dense.units` from a zod path, below `root`. */
export function issuePath(path: readonly PropertyKey[], root = ""): string {
  let text = root;
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`;
    else text += text ? `.${String(key)}` : String(key);
  }
  return text;
}

/** Turns one schema issue into one line naming the key's path, e.g. `plan.model[1].dense.units: …`. */
export function formatIssue(issue: z.core.$ZodIssue, root = ""): string {
  const path = issuePath(issue.path, root);
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => `"${k}"`).join(", ");
    return `${path ? `${path}: ` : ""}unknown key${issue.keys.length > 1 ? "s" : ""} ${keys}`;
  }
  return `${path || "(top level)"}: ${issue.message}`;
}

/**
 * Every issue as a problem, unknown keys first (a misspelt key also shows up as the required one it
 * stands for), one per key with the closest known key at that path as a hint.
 */
export function describeIssues(
  schema: z.ZodType,
  value: unknown,
  issues: readonly z.core.$ZodIssue[],
  root = "",
): Problem[] {
  let jsonSchema: unknown;
  const known = (path: readonly PropertyKey[]) => {
    try {
      jsonSchema ??= z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
      return keysAt(jsonSchema, path, value);
    } catch {
      return []; // a schema zod cannot describe gives no hints, not a crash
    }
  };
  const unknownKeys = issues.flatMap((issue) => {
    if (issue.code !== "unrecognized_keys") return [];
    const candidates = known(issue.path).filter((k) => !issue.keys.includes(k));
    return issue.keys.map((key) => ({
      path: issuePath(issue.path, root),
      message: `unknown key "${key}"${didYouMean(key, candidates)}`,
    }));
  });
  const others = issues
    .filter((issue) => issue.code !== "unrecognized_keys")
    .map((issue) => ({ path: issuePath(issue.path, root), message: issueMessage(issue) }));
  return [...unknownKeys, ...others];
}

/** zod's message, but a missing key said plainly. */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type" && issue.message.endsWith("received undefined"))
    return `missing (${issue.expected})`;
  return issue.message;
}

/** Parses `value` with `schema` or throws a ValidationError (message starting with `what`) listing every issue. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, root = ""): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(what, describeIssues(schema, value, result.error.issues, root));
}
