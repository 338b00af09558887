import packageJson from "../../package.json" with { type: "json" };

/** The fbm version both CLIs report and nodes send to the researcher. */
export function packageVersion(): string {
  return packageJson.version;
}
