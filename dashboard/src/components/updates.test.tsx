/** The Updates page: rows grouped by app, majors marked, unknown rows with their reason, who sees
 * the buttons, Update's confirmation (a major needs its box), Update all's summary with one failure,
 * and a changed store template (kind `template`): its words and diff, and no Update for it. */
import { createMemoryHistory, createRootRoute, createRoute, createRouter, Outlet, RouterProvider } from "@tanstack/react-router";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { setToken } from "@/api/session";
import { AppState } from "@/components/AppState";
import { UpdateBadge } from "@/components/UpdateBadge";
import { UpdatesList } from "@/components/UpdatesList";
import type { Role } from "@/lib/auth";
import type { ImageUpdate } from "@/lib/updates";
import { stubFetch, withRole, type Call } from "@/test/stubs";

const at = "2026-12-03T06:00:00Z";
const ROWS: ImageUpdate[] = [
  { app: "wiki", service: "web", image: "127.0.0.1:5000/web:1.0.0", kind: "major", current_tag: "1.0.0", current_digest: "sha256:1111111111111111", candidate_tag: "2.0.0", candidate_digest: "sha256:2222222222222222", checked_at: at },
  { app: "blog", service: "web", image: "127.0.0.1:5000/web:1.0.0", kind: "minor", current_tag: "1.0.0", current_digest: "sha256:1111111111111111", candidate_tag: "1.1.0", candidate_digest: "sha256:3333333333333333", checked_at: at },
  { app: "wiki", service: "web", image: "127.0.0.1:5000/web:1.0.0", kind: "patch", current_tag: "1.0.0", current_digest: "sha256:1111111111111111", candidate_tag: "1.0.1", candidate_digest: "sha256:4444444444444444", checked_at: at },
  { app: "wiki", service: "db", image: "127.0.0.1:5999/db:16", kind: "unknown", current_tag: "16", reason: "cannot reach 127.0.0.1:5999: connection refused", checked_at: at },
  { app: "shop", service: "web", image: "127.0.0.1:5000/shop:1.0.0", kind: "patch", current_tag: "1.0.0", candidate_tag: "1.0.1", checked_at: at },
];

function renderPage(role: Role, answer: (call: Call) => { status: number; body: unknown }) {
  setToken("tok", 3600);
  const calls = stubFetch(answer);
  const root = createRootRoute({ component: () => <Outlet /> });
  const page = createRoute({ getParentRoute: () => root, path: "/", component: UpdatesList });
  const deployment = createRoute({ getParentRoute: () => root, path: "/apps/$name/deployments/$id", component: () => <p>deployment page</p> });
  const compose = createRoute({ getParentRoute: () => root, path: "/apps/$name/compose", component: () => <p>compose tab</p> });
  const router = createRouter({ routeTree: root.addChildren([page, deployment, compose]), history: createMemoryHistory({ initialEntries: ["/"] }) });
  render(withRole(role, <RouterProvider router={router} />));
  return { calls, router };
}

const listing = (call: Call) => (call.method === "GET" && call.path === "/api/v1/updates" ? { status: 200, body: { updates: ROWS } } : null);

const DIFF = "--- a/hello/compose.yaml\n+++ b/hello/compose.yaml\n@@ -1,3 +1,3 @@\n services:\n-  web: {image: busybox:1.36}\n+  web: {image: busybox:1.37}\n";
const template = (app: string): ImageUpdate => ({
  app,
  service: "",
  image: "casa/hello",
  kind: "template",
  reason: "the store's template casa/hello changed; redeploying with it is your choice",
  diff: DIFF,
  checked_at: "2026-12-03T09:00:00Z",
});
// casa1 has only its template's change; blog has the change and an image update too
const WITH_TEMPLATES = [template("casa1"), template("blog"), ...ROWS];
const withTemplates = (call: Call) => (call.method === "GET" && call.path === "/api/v1/updates" ? { status: 200, body: { updates: WITH_TEMPLATES } } : null);

afterEach(() => vi.unstubAllGlobals());

describe("UpdatesList", () => {
  it("groups the rows by app, marks a major and says why a row is unknown", async () => {
    renderPage("viewer", (call) => listing(call) ?? { status: 404, body: {} });
    const wiki = await screen.findByTestId("updates-wiki");
    expect(screen.getAllByTestId(/^updates-/).map((el) => el.dataset.testid)).toEqual(["updates-blog", "updates-shop", "updates-wiki"]);
    expect(within(wiki).getAllByTestId("update-kind").map((el) => el.textContent)).toEqual(["unknown", "patch", "major"]);
    const major = within(wiki).getByTestId("update-row-wiki-web-major");
    expect(major).toHaveTextContent("1.0.0111111111111 → 2.0.0222222222222");
    expect(major).toHaveTextContent("major — may need changes, read the release notes");
    expect(within(wiki).getByTestId("update-reason")).toHaveTextContent("Could not check:");
    expect(within(wiki).getByTestId("update-reason").textContent).toMatch(/127\.0\.0\.1:5999/);
    expect(screen.getByTestId("last-check")).toHaveTextContent("Last checked");
  });

  it("shows a viewer the lists and no button", async () => {
    renderPage("viewer", (call) => listing(call) ?? { status: 404, body: {} });
    await screen.findByTestId("updates-wiki");
    expect(screen.queryByRole("button")).toBeNull();
  });

  it("gives an operator Check now, Update per app and Update all; Check now asks for a check", async () => {
    const { calls } = renderPage("operator", (call) => listing(call) ?? { status: 202, body: { queued: true } });
    await screen.findByTestId("updates-wiki");
    expect(screen.getByTestId("update-blog")).toBeInTheDocument();
    expect(screen.getByTestId("update-wiki")).toBeInTheDocument();
    await userEvent.setup().click(screen.getByTestId("check-now"));
    expect(await screen.findByText("Check started; the list refreshes when it ends.")).toBeInTheDocument();
    expect(calls.filter((c) => c.method === "POST").map((c) => c.path)).toEqual(["/api/v1/updates/check"]);
  });

  it("lists what an update changes; the major only with its box ticked; then opens the deployment", async () => {
    const { calls, router } = renderPage("operator", (call) =>
      listing(call) ?? { status: 202, body: { app: "wiki", deployment: { id: "d7", app: "wiki", action: "update", status: "pending" } } },
    );
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("update-wiki"));
    const dialog = await screen.findByRole("dialog");
    expect(within(dialog).getByTestId("update-changes")).toHaveTextContent("web 127.0.0.1:5000/web:1.0.0: 1.0.0 → 1.0.1");
    await user.click(within(dialog).getByTestId("allow-major"));
    expect(within(dialog).getByTestId("update-changes")).toHaveTextContent("1.0.0 → 2.0.0 (major)");
    await user.click(within(dialog).getByRole("button", { name: "Update" }));
    expect(await screen.findByText("deployment page")).toBeInTheDocument();
    expect(router.state.location.pathname).toBe("/apps/wiki/deployments/d7");
    const post = calls.find((c) => c.method === "POST");
    expect(post).toEqual({ method: "POST", path: "/api/v1/apps/wiki/update", body: { allow_major: true } });
  });

  it("updates every app on its own; the summary names the one that failed and why", async () => {
    const { calls } = renderPage("operator", (call) => {
      const listed = listing(call);
      if (listed) return listed;
      if (call.path === "/api/v1/apps/shop/update") return { status: 409, body: { code: "conflict", message: "shop has nothing to update", request_id: "r1" } };
      const app = call.path.split("/")[4];
      if (call.method === "POST") return { status: 202, body: { app, deployment: { id: `d-${app}`, app, action: "update", status: "pending" } } };
      return { status: 200, body: { id: call.path.split("/").at(-1), app: call.path.split("-").at(-1), action: "update", status: "running" } };
    });
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("update-all"));
    const dialog = await screen.findByRole("dialog");
    expect(dialog).toHaveTextContent("blog, shop, wiki");
    await user.click(within(dialog).getByRole("button", { name: "Update 3 apps" }));
    const summary = await screen.findByTestId("update-all-summary");
    expect(within(summary).getByTestId("update-all-words")).toHaveTextContent("2 of 3 apps updated or updating. Failed: shop (shop has nothing to update).");
    expect(within(summary).getByTestId("update-all-shop")).toHaveTextContent("failed — shop has nothing to update");
    expect(within(summary).getByTestId("update-all-wiki")).toHaveTextContent("follow it");
    expect(calls.filter((c) => c.method === "POST").map((c) => [c.path, c.body])).toEqual([
      ["/api/v1/apps/blog/update", {}],
      ["/api/v1/apps/shop/update", {}],
      ["/api/v1/apps/wiki/update", {}],
    ]);
  });

  it("names an update that started and then rolled back, with the deployment's reason", async () => {
    renderPage("operator", (call) => {
      const listed = listing(call);
      if (listed) return listed;
      const app = call.path.split("/")[4];
      if (call.method === "POST") return { status: 202, body: { app, deployment: { id: `d-${app}`, app, action: "update", status: "pending" } } };
      const id = call.path.split("/").at(-1) ?? "";
      return id === "d-wiki"
        ? { status: 200, body: { id, app: "wiki", action: "update", status: "failed", reason: "rolled back to v3: web was unhealthy after the update" } }
        : { status: 200, body: { id, app: id.slice(2), action: "update", status: "succeeded" } };
    });
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("update-all"));
    await user.click(within(await screen.findByRole("dialog")).getByRole("button", { name: "Update 3 apps" }));
    const summary = await screen.findByTestId("update-all-summary");
    await waitFor(() =>
      expect(within(summary).getByTestId("update-all-words")).toHaveTextContent(
        "2 of 3 apps updated or updating. Failed: wiki (rolled back to v3: web was unhealthy after the update).",
      ),
    );
    expect(within(summary).getByTestId("update-all-blog")).toHaveTextContent("succeeded");
    expect(summary).toHaveAttribute("role", "alert");
  });

  it("shows a changed store template plainly, its diff on demand, and no Update for it", async () => {
    const { router } = renderPage("operator", (call) => withTemplates(call) ?? { status: 404, body: {} });
    const casa = await screen.findByTestId("updates-casa1");
    const change = within(casa).getByTestId("template-update-casa1");
    expect(within(change).getByTestId("template-update-words")).toHaveTextContent("The store template casa/hello changed.");
    expect(change).toHaveTextContent("AppOS does not apply it: casa1 keeps running what it runs now. Redeploying with the new template is your choice");
    // nothing to update for an app whose only news is its template; no image table either
    expect(within(casa).queryByRole("button", { name: /Update/ })).toBeNull();
    expect(within(casa).queryByRole("table")).toBeNull();
    // the diff is collapsed, then shown with its added and removed lines marked
    const user = userEvent.setup();
    const diff = within(change).getByTestId("template-diff");
    expect(diff).not.toBeVisible();
    await user.click(within(change).getByText(/What changed in the template/));
    expect(diff).toBeVisible();
    expect(within(change).getByText(/What changed in the template/)).toHaveTextContent("(+1 −1)");
    expect(diff.tagName).toBe("PRE");
    expect([...diff.querySelectorAll("[data-kind=add]")].map((el) => el.textContent)).toEqual(["+  web: {image: busybox:1.37}"]);
    expect([...diff.querySelectorAll("[data-kind=del]")].map((el) => el.textContent)).toEqual(["-  web: {image: busybox:1.36}"]);
    expect(diff.querySelector("[data-kind=add]")?.className).toMatch(/bg-/);
    // redeploying is the user's choice: the compose tab is one click away
    await user.click(within(change).getByRole("link", { name: "Compose tab" }));
    expect(await screen.findByText("compose tab")).toBeInTheDocument();
    expect(router.state.location.pathname).toBe("/apps/casa1/compose");
  });

  it("keeps an app's image updates working next to its template's change", async () => {
    const { calls } = renderPage("operator", (call) => withTemplates(call) ?? { status: 202, body: { app: "blog", deployment: { id: "d9", app: "blog", action: "update", status: "pending" } } });
    const blog = await screen.findByTestId("updates-blog");
    expect(within(blog).getByTestId("template-update-blog")).toBeInTheDocument();
    expect(within(blog).getAllByTestId("update-kind").map((el) => el.textContent)).toEqual(["minor"]);
    expect(screen.getByTestId("last-check")).toHaveTextContent("Last checked");
    const user = userEvent.setup();
    // Update all: the apps with an image update only, not casa1
    await user.click(screen.getByTestId("update-all"));
    expect(await screen.findByRole("dialog")).toHaveTextContent("blog, shop, wiki");
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    // blog's Update lists its image only
    await user.click(screen.getByTestId("update-blog"));
    const dialog = await screen.findByRole("dialog");
    expect(within(dialog).getByTestId("update-changes").querySelectorAll("li")).toHaveLength(1);
    expect(within(dialog).getByTestId("update-changes")).toHaveTextContent("web 127.0.0.1:5000/web:1.0.0: 1.0.0 → 1.1.0");
    await user.click(within(dialog).getByRole("button", { name: "Update" }));
    await waitFor(() => expect(calls.filter((c) => c.method === "POST")).toEqual([{ method: "POST", path: "/api/v1/apps/blog/update", body: {} }]));
  });

  it("gives an app whose template changed a badge of its own", async () => {
    stubFetch((call) => withTemplates(call) ?? { status: 404, body: {} });
    setToken("tok", 3600);
    const root = createRootRoute({ component: () => <UpdateBadge app={{ name: "casa1", status: "running" }} /> });
    const router = createRouter({ routeTree: root, history: createMemoryHistory({ initialEntries: ["/"] }) });
    render(withRole("viewer", <RouterProvider router={router} />));
    expect(await screen.findByTestId("update-badge-casa1")).toHaveTextContent("template changed");
  });

  it("says an update under way on the app's page as one", async () => {
    const root = createRootRoute({
      component: () => <AppState app={{ name: "wiki", status: "deploying", current_version: 4, last_deployment: { id: "d4", action: "update", status: "running", version: 4 } }} canAct={false} />,
    });
    const router = createRouter({ routeTree: root, history: createMemoryHistory({ initialEntries: ["/"] }) });
    render(withRole("viewer", <RouterProvider router={router} />));
    expect(await screen.findByTestId("app-deploying")).toHaveTextContent("Update from v3 to v4 is under way. Follow the deployment");
  });
});
