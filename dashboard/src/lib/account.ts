/** Changing one's own password (`POST /api/v1/auth/password`), checked as the server checks it
 * (services/common/passwords.py). The server ends every session of the account when its password
 * changes, so the console signs in again with the new one. */
import { api, unwrap, type User } from "@/api/client";
import { expireSession, renewingSession, setToken } from "@/api/session";
import { needsCode } from "@/lib/twoFactor";

export const SIGN_IN_AGAIN_WITH_CODE = "Your password was changed. Sign in with the new one and a two-factor code.";

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

export interface PasswordForm {
  current: string;
  next: string;
  repeat: string;
}

export type PasswordErrors = Partial<Record<keyof PasswordForm, string>>;

export function validatePasswordChange(form: PasswordForm): PasswordErrors {
  const errors: PasswordErrors = {};
  if (!form.current) errors.current = "Enter your current password.";
  if (form.next.length < PASSWORD_MIN) errors.next = `At least ${PASSWORD_MIN} characters.`;
  else if (form.next.length > PASSWORD_MAX) errors.next = `At most ${PASSWORD_MAX} characters.`;
  else if (form.current && form.next === form.current) errors.next = "The new password is the current one.";
  if (!errors.next && form.repeat !== form.next) errors.repeat = "The two new passwords differ.";
  return errors;
}

/** Changes the password, then signs in with it (the old session token stops working). An account
 * with two-factor authentication signs in again on the login page, with a code. */
export async function changePassword(username: string, form: PasswordForm, client = api): Promise<User> {
  return renewingSession(async () => {
    const user = await unwrap(client.POST("/api/v1/auth/password", { body: { current_password: form.current, new_password: form.next } }));
    try {
      const login = await unwrap(client.POST("/api/v1/auth/login", { body: { username, password: form.next } }));
      setToken(login.access_token ?? "", login.expires_in ?? 0);
    } catch (err) {
      if (!needsCode(err)) throw err;
      expireSession(SIGN_IN_AGAIN_WITH_CODE, { force: true });
    }
    return user;
  });
}
