import { afterEach, describe, expect, it, vi } from "vitest";
import { clearToken, expireSession, EXPIRED_NOTICE, getToken, isRenewingSession, onSessionChange, renewingSession, setToken, takeLoginNotice } from "./session";

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

  it("keeps the console signed in while a password change replaces the session", async () => {
    setToken("old");
    await renewingSession(async () => {
      expect(isRenewingSession()).toBe(true);
      expireSession(); // the old token refused by a request or the events socket meanwhile
      expect(getToken()).toBe("old");
      setToken("new");
    });
    expect(isRenewingSession()).toBe(false);
    expect(getToken()).toBe("new");
    expireSession(); // afterwards a refusal signs out again
    expect(getToken()).toBeNull();
  });
});
