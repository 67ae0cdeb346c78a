/** Two-factor authentication (TOTP) of one's own account: setting it up, turning it off, and the
 * code a login or a terminal asks for. The server answers `totp_required` when a code is needed and
 * `totp_invalid` when the one sent is wrong, expired or already used (services/gateway/second_factor.py). */
import { api, unwrap, type Schemas, type User } from "@/api/client";
import { ApiError } from "@/api/errors";

export type TotpSetup = Schemas["BeginTotpSetupReply"];

/** True when the server asks for a (new) two-factor code. */
export function needsCode(error: unknown): boolean {
  return error instanceof ApiError && (error.code === "totp_required" || error.code === "totp_invalid");
}

/** The refusal codes of a terminal WebSocket that a code prompt answers. */
export const TERMINAL_CODE_REFUSALS = ["totp_required", "totp_invalid"];

/** Six digits from the app (spaces allowed) go as `totp_code`; anything else is a recovery code. */
export function secondFactor(code: string): { totp_code: string } | { recovery_code: string } {
  const digits = code.replace(/\s+/g, "");
  return /^\d+$/.test(digits) ? { totp_code: digits } : { recovery_code: code.trim() };
}

/** The digits of an app's code, or null when it is not six digits. */
export function appCode(code: string): string | null {
  const digits = code.replace(/\s+/g, "");
  return /^\d{6}$/.test(digits) ? digits : null;
}

export function beginSetup(client = api): Promise<TotpSetup> {
  return unwrap(client.POST("/api/v1/auth/totp:begin", { body: {} }));
}

export async function confirmSetup(code: string, client = api): Promise<string[]> {
  const reply = await unwrap(client.POST("/api/v1/auth/totp:confirm", { body: { code } }));
  return reply.recovery_codes ?? [];
}

/** Turns it off with the account's password, or with a current code when `proof` is six digits. */
export function disableTotp(proof: string, client = api): Promise<User> {
  const body = appCode(proof) ? { code: appCode(proof)! } : { password: proof };
  return unwrap(client.POST("/api/v1/auth/totp:disable", { body }));
}
