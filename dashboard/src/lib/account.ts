/** Changing one's own password (`POST /api/v1/auth/password`), checked as the server checks it
 * (services/common/passwords.py). The server ends every session of the account when its password
 * changes, so the console signs in again with the new one. */
import { api, unwrap, type User } from "@/api/client";
import { setToken } from "@/api/session";

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

/** Changes the password, then signs in with it (the old session token stops working). */
export async function changePassword(username: string, form: PasswordForm, client = api): Promise<User> {
  const user = await unwrap(client.POST("/api/v1/auth/password", { body: { current_password: form.current, new_password: form.next } }));
  const login = await unwrap(client.POST("/api/v1/auth/login", { body: { username, password: form.next } }));
  setToken(login.access_token ?? "", login.expires_in ?? 0);
  return user;
}
