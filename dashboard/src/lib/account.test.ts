import { describe, expect, it, vi } from "vitest";
import { makeClient } from "@/api/client";
import { getToken, setToken } from "@/api/session";
import { changePassword, validatePasswordChange } from "./account";

describe("password change form", () => {
  it("accepts a good change", () => {
    expect(validatePasswordChange({ current: "old-password", next: "new-password-1", repeat: "new-password-1" })).toEqual({});
  });

  it("says what is wrong, per field", () => {
    expect(validatePasswordChange({ current: "", next: "short", repeat: "short" })).toEqual({
      current: "Enter your current password.",
      next: "At least 8 characters.",
    });
    expect(validatePasswordChange({ current: "x", next: "a".repeat(257), repeat: "" }).next).toBe("At most 256 characters.");
    expect(validatePasswordChange({ current: "same-password", next: "same-password", repeat: "same-password" }).next).toMatch(/current one/);
    expect(validatePasswordChange({ current: "old-password", next: "new-password-1", repeat: "new-password-2" })).toEqual({ repeat: "The two new passwords differ." });
  });
});

describe("changePassword", () => {
  it("changes it, then signs in again with the new one (the old session token stops working)", async () => {
    setToken("old-session", 3600);
    const calls: { path: string; auth: string | null; body: unknown }[] = [];
    const fetch = vi.fn(async (request: Request) => {
      const path = new URL(request.url).pathname;
      calls.push({ path, auth: request.headers.get("Authorization"), body: await request.json() });
      const body = path.endsWith("/password") ? { username: "ana", role: "viewer" } : { access_token: "new-session", expires_in: 3600 };
      return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
    });
    const client = makeClient({ baseUrl: "http://appos.test", fetch: fetch as unknown as typeof globalThis.fetch });
    const user = await changePassword("ana", { current: "old-password", next: "new-password-1", repeat: "new-password-1" }, client);
    expect(user.username).toBe("ana");
    expect(calls.map((c) => c.path)).toEqual(["/api/v1/auth/password", "/api/v1/auth/login"]);
    expect(calls[0]).toMatchObject({ auth: "Bearer old-session", body: { current_password: "old-password", new_password: "new-password-1" } });
    expect(calls[1].body).toEqual({ username: "ana", password: "new-password-1" });
    expect(getToken()).toBe("new-session");
  });

  it("keeps the session when the current password is wrong", async () => {
    setToken("old-session", 3600);
    const client = makeClient({
      baseUrl: "http://appos.test",
      fetch: async () =>
        new Response(JSON.stringify({ code: "permission_denied", message: "the current password is wrong", request_id: "r1" }), {
          status: 403,
          headers: { "Content-Type": "application/json" },
        }),
    });
    await expect(changePassword("ana", { current: "nope-nope", next: "new-password-1", repeat: "new-password-1" }, client)).rejects.toMatchObject({
      status: 403,
      message: "the current password is wrong",
    });
    expect(getToken()).toBe("old-session");
  });
});
