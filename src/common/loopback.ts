import { isIP } from "node:net";

/**
 * Whether `host` (a name, an IPv4/IPv6 address, or `[v6]`) only reaches this machine: localhost,
 * 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z). Cleartext is tolerated there, for development.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .replace(/^\[|\]$/g, "")
    .replace(/%.*$/, "") // an IPv6 zone id (fe80::1%eth0) names an interface, not the address; URLs refuse it
    .toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) !== 6) return false;
  const canonical = new URL(`http://[${h}]`).hostname.slice(1, -1); // e.g. 0:0:0:0:0:0:0:1 -> ::1
  return canonical === "::1" || /^::ffff:7f[0-9a-f]{2}:/.test(canonical);
}
