import { describe, expect, it } from "vitest";
import { makeClient } from "@/api/client";
import { ApiError } from "@/api/errors";
import { fetchHealth, sortParts, uptime } from "./system";

const json = (status: number, body: unknown) => async () => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
const client = (fetch: () => Promise<Response>) => makeClient({ baseUrl: "http://appos.test", fetch });

describe("fetchHealth", () => {
  it("returns the parts when all is well", async () => {
    const health = await fetchHealth(client(json(200, { status: "ok", parts: [{ name: "state", status: "ok" }] })));
    expect(health.status).toBe("ok");
  });

  it("returns the parts, not an error, when one is down (503 with the body)", async () => {
    const body = { status: "down", parts: [{ name: "redis", status: "down", message: "connection refused" }, { name: "state", status: "ok" }] };
    expect(await fetchHealth(client(json(503, body)))).toEqual(body);
  });

  it("raises a readable error for anything else", async () => {
    const error = await fetchHealth(client(json(503, { code: "unavailable", message: "gateway starting", request_id: "r" }))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe("gateway starting");
    const network = await fetchHealth(client(() => Promise.reject(new TypeError("Failed to fetch")))).catch((e: unknown) => e);
    expect((network as ApiError).code).toBe("network");
  });
});

describe("system helpers", () => {
  it("lists parts that are down first", () => {
    const parts = sortParts([
      { name: "state", status: "ok" },
      { name: "redis", status: "down" },
      { name: "caddy", status: "ok" },
    ]);
    expect(parts.map((p) => p.name)).toEqual(["redis", "caddy", "state"]);
  });

  it("says how long it has been up", () => {
    const now = Date.parse("2026-01-03T12:00:00Z");
    expect(uptime("2026-01-03T11:48:00Z", now)).toBe("12 min");
    expect(uptime("2026-01-03T09:30:00Z", now)).toBe("2 h 30 min");
    expect(uptime("2026-01-01T10:00:00Z", now)).toBe("2 days 2 h");
    expect(uptime(undefined, now)).toBe("—");
    expect(uptime("nonsense", now)).toBe("—");
  });
});
