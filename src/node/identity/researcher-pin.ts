import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fingerprintOfPem, parseFingerprint } from "../../common/certificates.js";
import { errorMessage, InputError } from "../../common/errors.js";

/**
 * The researcher a node trusts over TLS, pinned in its config: `researcher_cert` (path to the
 * researcher's PEM certificate) or `researcher_fingerprint` (its sha256). No trust on first use: an
 * https researcher without a pin is refused.
 */

export type PinKey = "researcher_cert" | "researcher_fingerprint";

/** The stored form of `config set researcher_cert|researcher_fingerprint VALUE`; "" clears the pin. */
export function parsePinValue(key: PinKey, value: string): string {
  if (value.trim() === "") return "";
  if (key === "researcher_fingerprint") return parseFingerprint(value);
  const path = resolve(value);
  fingerprintOfPem(readCert(path), `the researcher certificate ${path}`);
  return path;
}

/** The fingerprint the researcher's certificate must have, or undefined when nothing is pinned. */
export function pinnedFingerprint(config: {
  researcher_cert?: string;
  researcher_fingerprint?: string;
}): string | undefined {
  const fromFile = config.researcher_cert
    ? fingerprintOfPem(readCert(config.researcher_cert), `the researcher certificate ${config.researcher_cert}`)
    : undefined;
  const given = config.researcher_fingerprint ? parseFingerprint(config.researcher_fingerprint) : undefined;
  if (fromFile && given && fromFile !== given) {
    throw new InputError(
      `The pinned researcher_cert (${fromFile}) and researcher_fingerprint (${given}) disagree: ` +
        'clear the wrong one with `fbm-node config set researcher_fingerprint ""` (or researcher_cert)',
    );
  }
  return fromFile ?? given;
}

/** How to pin, for messages. */
export const pinHelp =
  "pin the researcher's certificate: `fbm-node config set researcher_fingerprint sha256:…` (the fingerprint " +
  "`fbm-researcher cert generate` printed, checked with the researcher) or `fbm-node config set researcher_cert PATH`";

function readCert(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(
      `Cannot read the researcher certificate ${path}: ${code === "ENOENT" ? "no such file" : errorMessage(error)}`,
    );
  }
}
