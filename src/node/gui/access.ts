import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/**
 * Who may use the GUI: whoever holds the one-time token printed at start (as Jupyter does). The URL
 * `/?token=…` sets an HttpOnly, SameSite=Strict cookie; reads accept the cookie or the header; a
 * change (POST, DELETE) needs the token in the `X-FBM-Token` header, which another site's form or
 * script cannot send (CSRF). On loopback, a Host header naming another host is refused (DNS rebinding).
 */
export const TOKEN_HEADER = "x-fbm-token";
export const COOKIE = "fbm_gui_token";

export function newAccessToken(): string {
  return randomBytes(24).toString("base64url");
}

export function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function cookieToken(request: IncomingMessage): string | undefined {
  for (const part of (request.headers.cookie ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === COOKIE) return value.join("=");
  }
  return undefined;
}

export function headerToken(request: IncomingMessage): string | undefined {
  const value = request.headers[TOKEN_HEADER];
  return Array.isArray(value) ? value[0] : value;
}

/** Whether the Host header names this loopback server (its own address, 127.0.0.1, localhost or ::1, on its port). */
export function isLocalHost(hostHeader: string | undefined, listenHost: string, port: number): boolean {
  if (hostHeader === undefined) return false;
  const own = listenHost.includes(":") ? `[${listenHost}]` : listenHost;
  return [own, "127.0.0.1", "localhost", "[::1]"].some((host) => hostHeader.toLowerCase() === `${host}:${port}`);
}
