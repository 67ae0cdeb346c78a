/** The live events drive the cache: which queries each event makes stale, and that a stream that
 * starts or comes back refetches every event-driven query (and a deployment's stored log lines). */
import { QueryClient, QueryClientProvider, type QueryKey } from "@tanstack/react-query";
import { act, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mergeLines, useDeploymentLogs } from "@/hooks/useDeploymentLogs";
import { EventsProvider, useEventsStatus } from "@/lib/events";
import { EVENT_DRIVEN_ROOTS, invalidateFor, queryKeysFor, type AppOSEvent } from "@/lib/liveQueries";

const event = (type: string, subject = "", payload: Record<string, unknown> = {}, seq = 1): AppOSEvent => ({ seq, type, subject, payload });

describe("queryKeysFor", () => {
  it.each<[AppOSEvent, QueryKey[]]>([
    [event("app_created", "web"), [["apps"], ["app", "web"], ["versions", "web"]]],
    [event("app_status", "web", { status: "stopped" }), [["apps"], ["app", "web"], ["versions", "web"]]],
    [event("app_containers", "web"), [["apps"], ["app", "web"], ["versions", "web"]]],
    [event("version_created", "web"), [["apps"], ["app", "web"], ["versions", "web"]]],
    [
      event("deployment_status", "d1", { app: "web", status: "succeeded" }),
      [["deployments"], ["deployment", "d1"], ["apps"], ["app", "web"], ["versions", "web"]],
    ],
    [event("deployment_created", "d2"), [["deployments"], ["deployment", "d2"]]],
    [event("domain_added", "a.example.com", { app: "web" }), [["domains"]]],
    [event("certificate_expiring", "a.example.com"), [["domains"]]],
    [event("certificate_status", "a.example.com"), [["domains"]]],
    [event("backup_started", "b1"), [["backups"]]],
    [event("backup_failed", "b1"), [["backups"]]],
    [event("settings_changed", "backup.retention", { keys: ["backup.retention"] }), [["backup-settings"]]],
    [event("settings_changed", "backup.volumes.web", { keys: ["backup.volumes.web"] }), [["backup-settings"], ["app", "web"]]],
    [event("user_updated", "ann"), [["users"], ["me"]]],
    [event("totp_enabled", "ann"), [["users"], ["me"]]],
    [event("token_revoked", "t1"), [["tokens"]]],
    [event("notification_target_created", "ops"), [["notification-targets"]]],
    [event("updates_checked", "", { apps: 3, updates: 2, unknown: 1, new: 1, origin: "request" }), [["updates"]]],
    [event("update_available", "blog", { updates: [] }), [["updates"]]],
    [event("update_step", "blog", { app: "blog", deployment: "d9", step: "pull", status: "running" }), [["updates"], ["deployment", "d9"], ["app", "blog"]]],
    [event("update_rolled_back", "blog", { app: "blog", deployment: "d9" }), [["updates"], ["deployment", "d9"], ["app", "blog"]]],
    [event("store_refreshed", "casa", { store: "casa", templates: 2, skipped: 1, error: "", changed: [] }), [["stores"], ["store", "casa"], ["catalog"]]],
    [
      event("store_refreshed", "casa", { store: "casa", templates: 2, skipped: 1, error: "", changed: ["casa/whoami"] }),
      [["stores"], ["store", "casa"], ["catalog"], ["template", "casa/whoami"]],
    ],
    [event("server_added", "edge", { server: "edge", address: "ssh://deploy@203.0.113.7:22", fingerprint: "SHA256:x" }), [["servers"]]],
    [event("server_host_key_pinned", "edge", { server: "edge", before: "SHA256:x", fingerprint: "SHA256:y" }), [["servers"]]],
    [event("server_removed", "edge", { server: "edge" }), [["servers"]]],
  ])("%o makes stale %j", (e, keys) => {
    expect(queryKeysFor(e)).toEqual(keys);
  });

  it("leaves the many-per-job events and unknown ones to their own listeners", () => {
    expect(queryKeysFor(event("deployment_log", "d1", { app: "web", seq: 7, line: "x" }))).toEqual([]);
    expect(queryKeysFor(event("backup_progress", "b1", { step: "apps" }))).toEqual([]);
    expect(queryKeysFor(event("login_failed", "ann"))).toEqual([]);
    expect(queryKeysFor(event("something_new", "x"))).toEqual([]);
  });

  it("refreshes everything after a restore", () => {
    expect(queryKeysFor(event("backup_restored", "b1")).map((k) => k[0])).toEqual([...EVENT_DRIVEN_ROOTS]);
  });

  it("names only roots that a restart of the stream refetches", () => {
    const types = ["app_deleted", "version_created", "deployment_status", "domain_removed", "certificate_failed", "backup_succeeded", "backup_restored", "user_created", "token_created", "notification_failed", "totp_disabled", "updates_checked", "update_available", "update_step", "update_failed", "server_added", "server_removed", "server_host_key_pinned"];
    for (const type of types) {
      for (const key of queryKeysFor(event(type, "s", { app: "web", deployment: "d1", keys: ["backup.volumes.web"] }))) {
        expect(EVENT_DRIVEN_ROOTS as readonly unknown[]).toContain(key[0]);
      }
    }
    expect(queryKeysFor(event("settings_changed", "s", { keys: ["backup.volumes.web"] })).every((k) => (EVENT_DRIVEN_ROOTS as readonly unknown[]).includes(k[0]))).toBe(true);
  });
});

/** A cache holding one query of each kind the console keeps, all fresh. */
function seededClient(): QueryClient {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  for (const key of [["apps"], ["app", "web"], ["app", "db"], ["deployment", "d1"], ["domains"], ["backups"], ["system-info"], ["host-stats"], ["health"], ["catalog", "", ""]]) {
    client.setQueryData(key, { seeded: true });
  }
  return client;
}

function stale(client: QueryClient): string[] {
  return client
    .getQueryCache()
    .getAll()
    .filter((q) => q.state.isInvalidated)
    .map((q) => JSON.stringify(q.queryKey))
    .sort();
}

function refresh(client: QueryClient) {
  for (const q of client.getQueryCache().getAll()) client.setQueryData(q.queryKey, { seeded: true });
}

describe("invalidateFor", () => {
  it("marks only what the event concerns", () => {
    const client = seededClient();
    invalidateFor(client, event("app_status", "web", { status: "stopped" }));
    expect(stale(client)).toEqual(['["app","web"]', '["apps"]']);
  });
});

/** A WebSocket the test drives: what the gateway would send, and a drop. */
class FakeSocket {
  static OPEN = 1;
  static opened: FakeSocket[] = [];
  readyState = 1;
  onmessage: ((message: { data: string }) => void) | null = null;
  onclose: ((close: { code: number }) => void) | null = null;
  constructor(
    public url: string,
    public protocols?: string[],
  ) {
    FakeSocket.opened.push(this);
  }
  send() {}
  close(code = 1000) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  receive(data: Record<string, unknown>) {
    act(() => this.onmessage?.({ data: JSON.stringify(data) }));
  }
  drop() {
    act(() => this.close(1006));
  }
}

function Status() {
  return <span data-testid="status">{useEventsStatus()}</span>;
}

describe("EventsProvider", () => {
  beforeEach(() => {
    FakeSocket.opened = [];
    vi.stubGlobal("WebSocket", FakeSocket);
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  const eventDriven = ['["app","db"]', '["app","web"]', '["apps"]', '["backups"]', '["catalog","",""]', '["deployment","d1"]', '["domains"]', '["system-info"]'];

  it("refetches every event-driven query when the stream starts and when it comes back, and nothing it only polls", () => {
    const client = seededClient();
    render(
      <QueryClientProvider client={client}>
        <EventsProvider>
          <Status />
        </EventsProvider>
      </QueryClientProvider>,
    );
    expect(FakeSocket.opened).toHaveLength(1);
    const first = FakeSocket.opened[0];
    expect(first.url).toMatch(/\/api\/v1\/events\/ws$/);

    // the first hello: what was fetched before it may predate events this stream will not bring
    first.receive({ type: "hello", after: 41 });
    expect(screen.getByTestId("status")).toHaveTextContent("live");
    expect(stale(client)).toEqual(eventDriven);
    refresh(client);

    // live: one event, only what it concerns
    first.receive({ seq: 42, type: "domain_added", subject: "a.example.com", actor: "ann", payload: { app: "web" } });
    expect(stale(client)).toEqual(['["domains"]']);
    refresh(client);

    // the stream drops: nothing changes until it is back, then everything event-driven is refetched
    first.drop();
    expect(screen.getByTestId("status")).toHaveTextContent("offline");
    expect(stale(client)).toEqual([]);
    act(() => vi.advanceTimersByTime(1_000));
    expect(FakeSocket.opened).toHaveLength(2);
    const second = FakeSocket.opened[1];
    expect(second.url).toMatch(/\/api\/v1\/events\/ws\?after=42$/);
    expect(stale(client)).toEqual([]);
    second.receive({ type: "hello", after: 42 });
    expect(screen.getByTestId("status")).toHaveTextContent("live");
    expect(stale(client)).toEqual(eventDriven);
    expect(stale(client)).not.toContain('["host-stats"]');
    expect(stale(client)).not.toContain('["health"]');
  });
});

function Log({ id }: { id: string }) {
  const { lines } = useDeploymentLogs(id, true);
  return <pre data-testid="log">{lines.map((l) => l.line).join("|")}</pre>;
}

describe("a deployment's log", () => {
  beforeEach(() => {
    FakeSocket.opened = [];
    vi.stubGlobal("WebSocket", FakeSocket);
  });
  afterEach(() => vi.unstubAllGlobals());

  it("merges lines in seq order without repeats", () => {
    const a = { seq: 3, line: "a" };
    const b = { seq: 9, line: "b" };
    const c = { seq: 5, line: "c" };
    expect(mergeLines([], [a])).toEqual([a]);
    expect(mergeLines([a, b], [c, a])).toEqual([a, c, b]);
    const same = [a, b];
    expect(mergeLines(same, [b])).toBe(same);
  });

  it("takes live lines from events and reads the stored ones again when the stream comes back", async () => {
    const asked: string[] = [];
    const stored = [
      { seq: 10, line: "pulling" },
      { seq: 12, line: "starting" },
      { seq: 15, line: "healthy" },
    ];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: Request) => {
        const url = new URL(input.url);
        asked.push(`${url.pathname}?${url.searchParams}`);
        const after = Number(url.searchParams.get("after") ?? 0);
        return new Response(JSON.stringify({ lines: stored.filter((l) => l.seq > after) }), { status: 200, headers: { "Content-Type": "application/json" } });
      }),
    );
    const client = new QueryClient();
    render(
      <QueryClientProvider client={client}>
        <EventsProvider>
          <Log id="d1" />
        </EventsProvider>
      </QueryClientProvider>,
    );
    await waitFor(() => expect(screen.getByTestId("log")).toHaveTextContent("pulling|starting|healthy"));
    const socket = FakeSocket.opened[0];
    socket.receive({ type: "hello", after: 100 });
    await waitFor(() => expect(asked).toEqual(["/api/v1/deployments/d1/logs?after=0", "/api/v1/deployments/d1/logs?after=15"]));

    socket.receive({ seq: 101, type: "deployment_log", subject: "d1", payload: { app: "web", seq: 20, line: "ready" } });
    socket.receive({ seq: 102, type: "deployment_log", subject: "other", payload: { app: "db", seq: 21, line: "not ours" } });
    expect(screen.getByTestId("log")).toHaveTextContent(/^pulling\|starting\|healthy\|ready$/);
    expect(asked).toHaveLength(2); // live lines cost no request

    // lines written while the stream was away come from the server when it is back
    stored.push({ seq: 20, line: "ready" }, { seq: 22, line: "done" });
    socket.drop();
    await waitFor(() => expect(FakeSocket.opened).toHaveLength(2), { timeout: 3_000 });
    FakeSocket.opened[1].receive({ type: "hello", after: 102 });
    await waitFor(() => expect(screen.getByTestId("log")).toHaveTextContent(/^pulling\|starting\|healthy\|ready\|done$/));
    expect(asked[2]).toBe("/api/v1/deployments/d1/logs?after=15");
  });
});
