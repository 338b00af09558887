// No imports: the single-executable tests, which run the binaries, use it without loading the CLI in-process.

/**
 * `fbm-node dataset add` arguments for the node home `home`: each option as `--key value` (`true`: a bare
 * flag such as `json`), keys as the CLI spells them (`target`, `index-col`, …).
 */
export function datasetAdd(
  home: string,
  options: { type: string; path: string; tags: string } & Record<string, string | true>,
): string[] {
  const flags = Object.entries(options).flatMap(([key, value]) =>
    value === true ? [`--${key}`] : [`--${key}`, value],
  );
  return ["dataset", "add", "--home", home, ...flags];
}
