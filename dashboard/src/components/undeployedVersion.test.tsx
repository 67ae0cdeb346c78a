/** A saved version that is not running says so and deploys with one click. */
import { createMemoryHistory, createRootRoute, createRouter, RouterProvider } from "@tanstack/react-router";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { App } from "@/api/client";
import { setToken } from "@/api/session";
import { UndeployedVersion, undeployed } from "@/components/UndeployedVersion";
import { stubFetch, withRole } from "@/test/stubs";

const APP: App = { name: "blog", status: "running", current_version: 2, last_good_version: 1 };

function renderIn(app: App, canDeploy: boolean) {
  const root = createRootRoute({ component: () => <UndeployedVersion app={app} canDeploy={canDeploy} /> });
  const router = createRouter({ routeTree: root, history: createMemoryHistory({ initialEntries: ["/"] }) });
  render(withRole("operator", <RouterProvider router={router} />));
}

afterEach(() => vi.unstubAllGlobals());

describe("UndeployedVersion", () => {
  it("is shown only for a saved version that is neither running nor being deployed", () => {
    expect(undeployed(APP)).toBe(true);
    expect(undeployed({ ...APP, last_good_version: 2 })).toBe(false);
    expect(undeployed({ ...APP, status: "deploying" })).toBe(false);
    expect(undeployed({ ...APP, current_version: 0, last_good_version: 0 })).toBe(false);
  });

  it("deploys the saved version with one click", async () => {
    setToken("tok", 3600);
    const calls = stubFetch(() => ({ status: 200, body: { deployment: { id: "d9", app: "blog", action: "redeploy", status: "pending", version: 2 } } }));
    const user = userEvent.setup();
    renderIn(APP, true);
    expect(await screen.findByTestId("undeployed-version")).toHaveTextContent("Version 2 is saved, not deployed. Version 1 is the last one deployed.");
    await user.click(screen.getByRole("button", { name: "Deploy v2" }));
    expect(await screen.findByRole("link", { name: "Follow the deployment" })).toHaveAttribute("href", "/apps/blog/deployments/d9");
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(["POST /api/v1/apps/blog/redeploy"]);
  });

  it("offers a viewer no button", async () => {
    renderIn(APP, false);
    expect(await screen.findByTestId("undeployed-version")).toBeInTheDocument();
    expect(screen.queryByRole("button")).not.toBeInTheDocument();
  });
});
