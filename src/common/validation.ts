import type { z } from "zod";
import { InputError } from "./errors.js";

/** Turns the first schema issue into one line naming the key's path, e.g. `plan.model[1].dense.units`. */
export function formatIssue(issue: z.core.$ZodIssue, root = ""): string {
  let path = root;
  for (const key of issue.path) {
    if (typeof key === "number") path += `[${key}]`;
    else path += path ? `.${String(key)}` : String(key);
  }
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => `"${k}"`).join(", ");
    return `${path ? `${path}: ` : ""}unknown key${issue.keys.length > 1 ? "s" : ""} ${keys}`;
  }
  return `${path || "(top level)"}: ${issue.message}`;
}

/** Parses `value` with `schema` or throws an InputError whose message starts with `what`. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, root = ""): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new InputError(`${what}: ${formatIssue(result.error.issues[0], root)}`);
}
