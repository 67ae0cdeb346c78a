import { afterEach, describe, expect, it, vi } from "vitest";
import { clearToken, EXPIRED_NOTICE, getToken, onSessionChange, setToken, takeLoginNotice } from "./session";

afterEach(() => vi.useRealTimers());

describe("session", () => {
  it("stores the token where the API docs page finds it", () => {
    setToken("abc", 60);
    expect(localStorage.getItem("appos_token")).toBe("abc");
    expect(getToken()).toBe("abc");
  });

  it("forgets a token past its expiry and leaves a notice for the login page", () => {
    vi.useFakeTimers();
    const changes = vi.fn();
    const stop = onSessionChange(changes);
    setToken("abc", 10);
    vi.advanceTimersByTime(11_000);
    expect(getToken()).toBeNull();
    expect(changes).toHaveBeenCalledTimes(2); // set, then expired
    expect(takeLoginNotice()).toBe(EXPIRED_NOTICE);
    expect(takeLoginNotice()).toBeNull(); // shown once
    stop();
  });

  it("signs out with its own notice", () => {
    setToken("abc");
    clearToken("You signed out.");
    expect(getToken()).toBeNull();
    expect(takeLoginNotice()).toBe("You signed out.");
  });
});
