/** Paged lists ("Load more" from `next_page_token`) and the admin's "Show secrets" in a version diff,
 * rendered in a memory router with the global fetch stubbed (the typed client goes through it). */
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createMemoryHistory, createRootRoute, createRouter, RouterProvider } from "@tanstack/react-router";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { App } from "@/api/client";
import { setToken } from "@/api/session";
import { AppDeployments } from "@/components/AppDeployments";
import { VersionHistory } from "@/components/VersionHistory";
import { AuthContext, type Role } from "@/lib/auth";

const APP: App = { name: "blog", status: "running", current_version: 3, last_good_version: 3 };

type Call = { method: string; path: string; query: Record<string, string> };
type Answer = { status: number; body: unknown };

function stubFetch(answer: (call: Call) => Answer) {
  const calls: Call[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: Request) => {
      const url = new URL(input.url);
      const call = { method: input.method, path: decodeURIComponent(url.pathname), query: Object.fromEntries(url.searchParams) };
      const { status, body } = call.path === "/api/v1/apps/blog" ? { status: 200, body: APP } : answer(call);
      calls.push(call);
      return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    }),
  );
  return calls;
}

/** The component as a page of the signed-in layout shows it: in a router, the app already loaded. */
function renderAs(role: Role, ui: ReactNode) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  queryClient.setQueryData(["app", "blog"], APP);
  const root = createRootRoute({ component: () => ui });
  const router = createRouter({ routeTree: root, history: createMemoryHistory({ initialEntries: ["/"] }) });
  render(
    <QueryClientProvider client={queryClient}>
      <AuthContext.Provider value={{ user: { username: "u", role }, signOut: () => {} }}>
        <RouterProvider router={router} />
      </AuthContext.Provider>
    </QueryClientProvider>,
  );
}

const version = (number: number) => ({ number, message: `change ${number}`, author: "admin", hash: `${number}`.repeat(12), created_at: "2026-01-01T00:00:00Z" });
const deployment = (id: string) => ({ id, app: "blog", action: "deploy", status: "succeeded", version: 1, actor: "admin", created_at: "2026-01-01T00:00:00Z" });
const pagesOf = (calls: Call[], path: string) => calls.filter((c) => c.path === path).map((c) => c.query);

beforeEach(() => {
  setToken("tok", 3600);
  vi.stubGlobal("scrollTo", vi.fn()); // the router restores scroll; jsdom has no layout
});
afterEach(() => vi.unstubAllGlobals());

describe("VersionHistory paging", () => {
  it("shows the first page, appends the next on Load more, then offers no more", async () => {
    const calls = stubFetch(({ path, query }) => {
      if (path !== "/api/v1/apps/blog/versions") return { status: 404, body: { code: "not_found", message: path, request_id: "r" } };
      return query.page_token === "MQ" ? { status: 200, body: { versions: [version(1)] } } : { status: 200, body: { versions: [version(3), version(2)], next_page_token: "MQ" } };
    });
    const user = userEvent.setup();
    renderAs("viewer", <VersionHistory name="blog" />);
    expect(await screen.findByTestId("version-3")).toHaveTextContent("change 3");
    expect(screen.getByTestId("version-2")).toBeInTheDocument();
    expect(screen.queryByTestId("version-1")).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Load more" }));
    expect(await screen.findByTestId("version-1")).toHaveTextContent("change 1");
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();
    expect(screen.getAllByRole("listitem").map((li) => li.dataset.testid)).toEqual(["version-3", "version-2", "version-1"]);
    expect(pagesOf(calls, "/api/v1/apps/blog/versions")).toEqual([{ page_size: "100" }, { page_size: "100", page_token: "MQ" }]);
  });

  it("offers no Load more when the first page is the only one", async () => {
    stubFetch(() => ({ status: 200, body: { versions: [version(2), version(1)], next_page_token: "" } }));
    renderAs("operator", <VersionHistory name="blog" />);
    expect(await screen.findByTestId("version-1")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();
  });
});

describe("AppDeployments paging", () => {
  it("shows the first page, appends the next on Load more, then offers no more", async () => {
    const calls = stubFetch(({ query }) =>
      query.page_token === "p2" ? { status: 200, body: { deployments: [deployment("d3")] } } : { status: 200, body: { deployments: [deployment("d1"), deployment("d2")], next_page_token: "p2" } },
    );
    const user = userEvent.setup();
    renderAs("viewer", <AppDeployments name="blog" />);
    expect(await screen.findByTestId("deployment-d1")).toBeInTheDocument();
    expect(screen.getByTestId("deployment-d2")).toBeInTheDocument();
    expect(screen.queryByTestId("deployment-d3")).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Load more" }));
    expect(await screen.findByTestId("deployment-d3")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();
    expect(screen.getAllByTestId(/^deployment-/).map((r) => r.dataset.testid)).toEqual(["deployment-d1", "deployment-d2", "deployment-d3"]);
    expect(pagesOf(calls, "/api/v1/deployments")).toEqual([
      { app: "blog", page_size: "50" },
      { app: "blog", page_size: "50", page_token: "p2" },
    ]);
  });

  it("keeps the rows shown when the next page fails, and says why", async () => {
    stubFetch(({ query }) =>
      query.page_token
        ? { status: 503, body: { code: "unavailable", message: "state is not answering", request_id: "r9" } }
        : { status: 200, body: { deployments: [deployment("d1")], next_page_token: "p2" } },
    );
    const user = userEvent.setup();
    renderAs("viewer", <AppDeployments name="blog" />);
    await user.click(await screen.findByRole("button", { name: "Load more" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("state is not answering");
    expect(screen.getByTestId("deployment-d1")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Load more" })).toBeEnabled(); // try again
  });

  it("says so when there are none, with no Load more", async () => {
    stubFetch(() => ({ status: 200, body: { deployments: [] } }));
    renderAs("viewer", <AppDeployments name="blog" />);
    expect(await screen.findByText("No deployments yet.")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();
  });
});

describe("version diff secrets", () => {
  const MASKED = "--- v2/.env\n+++ v3/.env\n@@ -1 +1 @@\n-DB_PASSWORD=********\n+DB_PASSWORD=********\n";
  const REVEALED = "--- v2/.env\n+++ v3/.env\n@@ -1 +1 @@\n-DB_PASSWORD=old-pass\n+DB_PASSWORD=new-pass\n";

  function stubDiff() {
    return stubFetch(({ path, query }) => {
      if (path === "/api/v1/apps/blog/versions") return { status: 200, body: { versions: [version(3), version(2)], next_page_token: "MQ" } };
      return { status: 200, body: { from_version: Number(query.against), to_version: 3, compose_diff: "", env_diff: query.reveal_secrets === "true" ? REVEALED : MASKED } };
    });
  }

  it("lets an admin show the secrets, which refetches the diff with reveal_secrets=true, and hide them again", async () => {
    const calls = stubDiff();
    const user = userEvent.setup();
    renderAs("admin", <VersionHistory name="blog" />);
    await user.click(within(await screen.findByTestId("version-3")).getByRole("button", { name: "Diff" }));
    const view = screen.getByTestId("diff-view");
    await waitFor(() => expect(view).toHaveTextContent("DB_PASSWORD=********"));
    // every version can be compared with, the ones on later pages too (numbers have no gaps)
    expect(within(view).getAllByRole("option").map((o) => o.textContent)).toEqual(["v2", "v1"]);
    const show = within(view).getByRole("button", { name: "Show secrets" });
    expect(show).toHaveAttribute("aria-pressed", "false");
    await user.click(show);
    await waitFor(() => expect(view).toHaveTextContent("DB_PASSWORD=new-pass"));
    expect(view).toHaveTextContent(".env (secrets shown)");
    expect(within(view).getByRole("button", { name: "Hide secrets" })).toHaveAttribute("aria-pressed", "true");
    expect(pagesOf(calls, "/api/v1/apps/blog/versions/3/diff")).toEqual([{ against: "2" }, { against: "2", reveal_secrets: "true" }]);
    await user.click(within(view).getByRole("button", { name: "Hide secrets" }));
    await waitFor(() => expect(view).toHaveTextContent("DB_PASSWORD=********"));
    expect(view).not.toHaveTextContent("new-pass");
  });

  it.each(["operator", "viewer"] as const)("offers the %s role no way to show secrets", async (role) => {
    const calls = stubDiff();
    const user = userEvent.setup();
    renderAs(role, <VersionHistory name="blog" />);
    await user.click(within(await screen.findByTestId("version-3")).getByRole("button", { name: "Diff" }));
    const view = screen.getByTestId("diff-view");
    await waitFor(() => expect(view).toHaveTextContent("DB_PASSWORD=********"));
    expect(within(view).queryByRole("button", { name: /secrets/ })).not.toBeInTheDocument();
    expect(calls.some((c) => "reveal_secrets" in c.query)).toBe(false);
  });
});
