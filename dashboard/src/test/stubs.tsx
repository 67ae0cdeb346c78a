/** What component tests share: a stubbed global fetch (the typed client goes through it) that
 * records each request, and a render wrapper giving the signed-in user a role. */
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { vi } from "vitest";
import { AuthContext, type Role } from "@/lib/auth";

export type Call = { method: string; path: string; body: unknown };

/** Answers every request with `answer(call)`; returns the calls made, in order. */
export function stubFetch(answer: (call: Call) => { status: number; body: unknown }): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: Request) => {
      const text = await input.text();
      const call = { method: input.method, path: decodeURIComponent(new URL(input.url).pathname), body: text ? JSON.parse(text) : undefined };
      calls.push(call);
      const { status, body } = answer(call);
      return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    }),
  );
  return calls;
}

export function withRole(role: Role, children: ReactNode) {
  return (
    <QueryClientProvider client={new QueryClient()}>
      <AuthContext.Provider value={{ user: { username: "u", role }, signOut: () => {} }}>{children}</AuthContext.Provider>
    </QueryClientProvider>
  );
}
