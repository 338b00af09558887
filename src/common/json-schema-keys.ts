/**
 * The object keys a JSON Schema allows at a path of a value, for "did you mean" hints. Follows
 * `properties`, `items` and `anyOf`/`oneOf` (picking the variants whose `const` properties match the
 * value, e.g. an aggregator's `name`), which covers what zod's `toJSONSchema` produces.
 */

type Schema = {
  properties?: Record<string, Schema>;
  items?: Schema;
  prefixItems?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  const?: unknown;
};

export function keysAt(schema: unknown, path: readonly PropertyKey[], value: unknown): string[] {
  let nodes = [schema as Schema];
  let here = value;
  for (const key of path) {
    nodes = variants(nodes, here).flatMap((node) => {
      if (typeof key === "number") return node.prefixItems?.[key] ?? node.items ?? [];
      return node.properties?.[String(key)] ?? [];
    });
    here = isObject(here) || Array.isArray(here) ? (here as Record<PropertyKey, unknown>)[key as never] : undefined;
  }
  return [...new Set(variants(nodes, here).flatMap((node) => Object.keys(node.properties ?? {})))];
}

/** The schemas that could describe `value`: alternatives expanded, those whose `const` keys disagree dropped. */
function variants(nodes: Schema[], value: unknown): Schema[] {
  const all = nodes.flatMap(function expand(node): Schema[] {
    const choices = [...(node.anyOf ?? []), ...(node.oneOf ?? [])];
    return choices.length > 0 ? [node, ...choices.flatMap(expand)] : [node];
  });
  if (!isObject(value)) return all;
  const fitting = all.filter((node) =>
    Object.entries(node.properties ?? {}).every(
      ([key, property]) => property.const === undefined || !(key in value) || value[key] === property.const,
    ),
  );
  return fitting.length > 0 ? fitting : all;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
