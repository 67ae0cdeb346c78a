import { describe, expect, it, vi } from "vitest";
import { makeClient, unwrap } from "./client";
import { ApiError, errorMessage, toApiError } from "./errors";
import { EXPIRED_NOTICE, getToken, peekLoginNotice, setToken } from "./session";

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

describe("error mapping", () => {
  it("keeps the server's code, message and request id", () => {
    const error = toApiError(409, { code: "conflict", message: "the compose file changed since v3", request_id: "abc123" });
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(409);
    expect(error.code).toBe("conflict");
    expect(error.message).toBe("the compose file changed since v3");
    expect(error.requestId).toBe("abc123");
  });

  it("says something readable when the body is not the error JSON", () => {
    expect(toApiError(502, "<html>Bad Gateway</html>").message).toBe("The AppOS gateway cannot be reached.");
    expect(toApiError(503, undefined).message).toMatch(/unavailable/);
    expect(toApiError(418, {}, "I'm a teapot").message).toBe("The server answered 418 I'm a teapot.");
  });

  it("turns a failed fetch into a network error and anything thrown into text", async () => {
    const client = makeClient({ baseUrl: "http://appos.test", fetch: () => Promise.reject(new TypeError("Failed to fetch")) });
    const error = await unwrap(client.GET("/api/v1/apps")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("network");
    expect(errorMessage(error)).toMatch(/Cannot reach the AppOS server/);
    // a change whose answer was lost may have been made: the message says to look first
    const change = await unwrap(client.POST("/api/v1/apps/{app}/stop", { params: { path: { app: "blog" } }, body: {} })).catch((e: unknown) => e);
    expect((change as ApiError).code).toBe("network");
    expect(errorMessage(change)).toMatch(/may have been done\. Reload the page to see/);
    expect(errorMessage(new Error("plain"))).toBe("plain");
    expect(errorMessage("text")).toBe("text");
  });
});

describe("the typed client", () => {
  it("sends the stored token and returns the data", async () => {
    setToken("tok-1", 3600);
    const fetch = vi.fn(async (request: Request) => {
      expect(request.headers.get("Authorization")).toBe("Bearer tok-1");
      expect(new URL(request.url).pathname).toBe("/api/v1/apps/blog");
      return json(200, { name: "blog", status: "running" });
    });
    const client = makeClient({ baseUrl: "http://appos.test", fetch: fetch as unknown as typeof globalThis.fetch });
    const app = await unwrap(client.GET("/api/v1/apps/{app}", { params: { path: { app: "blog" } } }));
    expect(app).toEqual({ name: "blog", status: "running" });
    expect(fetch).toHaveBeenCalledOnce();
  });

  it("raises the API's error as an ApiError", async () => {
    setToken("tok-1");
    const client = makeClient({
      baseUrl: "http://appos.test",
      fetch: async () => json(400, { code: "invalid_argument", message: "setting HTTP_PORT must be a whole number", request_id: "r1" }),
    });
    const error = (await unwrap(client.POST("/api/v1/apps", { body: { name: "x", template: "y" } })).catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(400);
    expect(error.message).toBe("setting HTTP_PORT must be a whole number");
    expect(getToken()).toBe("tok-1");
  });

  it("ends the session with a notice when the server refuses the token", async () => {
    setToken("old-token", 3600);
    const client = makeClient({
      baseUrl: "http://appos.test",
      fetch: async () => json(401, { code: "unauthenticated", message: "token expired", request_id: "r2" }),
    });
    await expect(unwrap(client.GET("/api/v1/apps"))).rejects.toMatchObject({ status: 401 });
    expect(getToken()).toBeNull();
    expect(peekLoginNotice()).toBe(EXPIRED_NOTICE);
  });

  it("does not end a newer session when a call made with the old token is refused", async () => {
    setToken("old-token", 3600);
    const client = makeClient({
      baseUrl: "http://appos.test",
      fetch: async () => {
        setToken("new-token", 3600); // signed in again while the call was under way (a password change)
        return json(401, { code: "unauthenticated", message: "the session has ended", request_id: "r4" });
      },
    });
    await expect(unwrap(client.GET("/api/v1/apps"))).rejects.toMatchObject({ status: 401 });
    expect(getToken()).toBe("new-token");
    expect(peekLoginNotice()).toBeNull();
  });

  it("does not end anything on a wrong password at login", async () => {
    const client = makeClient({
      baseUrl: "http://appos.test",
      fetch: async () => json(401, { code: "unauthenticated", message: "invalid username or password", request_id: "r3" }),
    });
    const error = (await unwrap(client.POST("/api/v1/auth/login", { body: { username: "admin", password: "nope" } })).catch((e: unknown) => e)) as ApiError;
    expect(error.message).toBe("invalid username or password");
    expect(peekLoginNotice()).toBeNull();
  });

  it("sends If-Match with a compose edit", async () => {
    setToken("tok");
    const fetch = vi.fn(async (request: Request) => {
      expect(request.method).toBe("PUT");
      expect(request.headers.get("If-Match")).toBe('"v2-abc"');
      expect(new URL(request.url).searchParams.get("deploy")).toBe("true");
      expect(await request.json()).toEqual({ compose: "services: {}\n", env: "", message: "m" });
      return json(200, { version: { number: 3 } });
    });
    const client = makeClient({ baseUrl: "http://appos.test", fetch: fetch as unknown as typeof globalThis.fetch });
    const reply = await unwrap(
      client.PUT("/api/v1/apps/{app}/compose", {
        params: { path: { app: "blog" }, query: { deploy: true }, header: { "If-Match": '"v2-abc"' } },
        body: { compose: "services: {}\n", env: "", message: "m" },
      }),
    );
    expect(reply.version?.number).toBe(3);
  });
});
