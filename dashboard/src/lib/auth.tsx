/** Who is signed in, and what their role lets them do (viewer < operator < admin). */
import { createContext, useContext } from "react";
import type { User } from "@/api/client";

export type Role = "viewer" | "operator" | "admin";

const RANK: Record<string, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAllows(role: string | undefined, min: Role): boolean {
  return (RANK[role ?? ""] ?? -1) >= RANK[min];
}

export interface AuthState {
  user: User;
  signOut: () => void;
}

export const AuthContext = createContext<AuthState | null>(null);

export function useAuth(): AuthState {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside the signed-in layout");
  return auth;
}

/** True when the signed-in user's role is at least `min`. Mutating controls render only then. */
export function useCan(min: Role): boolean {
  const auth = useContext(AuthContext);
  return roleAllows(auth?.user.role, min);
}
