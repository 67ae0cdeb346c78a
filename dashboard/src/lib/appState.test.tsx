/** Issue 17: an app's state in words, from what the server says (its status, newest deployments). */
import { createMemoryHistory, createRootRoute, createRouter, RouterProvider } from "@tanstack/react-router";
import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { App } from "@/api/client";
import { AppState } from "@/components/AppState";
import { actionState, autoRollbackNote, deploymentLabel, plainMessage, savedNotDeployed, statusWords, versionSource } from "@/lib/appState";
import { withRole } from "@/test/stubs";

const svc = (service: string, state: string) => ({ service, container: `appos-x-${service}-1`, state });

const FAILED: App = {
  name: "broken",
  status: "failed",
  status_message: "image nope:1 was not found",
  current_version: 1,
  last_good_version: 0,
  services: [],
  last_deployment: { id: "d1", action: "deploy", status: "failed", version: 1, reason: "image nope:1 was not found", source: "create" },
  last_version_deployment: { id: "d1", action: "deploy", status: "failed", version: 1, source: "create" },
};

describe("app state words", () => {
  it("says partially_running as how many of how many run", () => {
    expect(statusWords({ status: "partially_running", services: [svc("web", "running"), svc("db", "exited"), svc("cache", "running")] })).toBe("2 of 3 running");
    expect(statusWords({ status: "failed" })).toBe("failed");
  });

  it("labels a rollback as one, with the versions it went from and to", () => {
    expect(deploymentLabel({ action: "deploy", source: "rollback", rollback_from: 3, rollback_to: 1 })).toBe("Rollback from v3 to v1");
    expect(deploymentLabel({ action: "deploy", source: "auto_rollback", rollback_from: 2, rollback_to: 1 })).toBe("Automatic rollback from v2 to v1");
    expect(deploymentLabel({ action: "deploy", source: "edit" })).toBe("Deploy");
    expect(deploymentLabel({ action: "restart" })).toBe("Restart");
    expect(deploymentLabel({ action: "update", version: 4 })).toBe("Update from v3 to v4");
    expect(deploymentLabel({ action: "update" })).toBe("Update");
    expect(versionSource({ source: "auto_rollback", rollback_from: 2, rollback_to: 1 })).toBe("automatic rollback from v2 to v1");
    expect(versionSource({ source: "create" })).toBe("create");
  });

  it("keeps raw deployment ids out of messages written before they were left out", () => {
    expect(plainMessage("automatic rollback to v1: deployment 0123456789abcdef0123456789abcdef of v2 failed")).toBe("automatic rollback to v1: v2 failed");
    expect(plainMessage("service web exited with code 3; rolled back to v1 (as v3, deployment 0123456789abcdef0123456789abcdef)")).toBe(
      "service web exited with code 3; rolled back to v1 (as v3)",
    );
  });

  it("says when, why and to which version AppOS rolled an app back", () => {
    const note = autoRollbackNote({
      last_version_deployment: { source: "auto_rollback", status: "succeeded", rollback_from: 2, rollback_to: 1, rollback_cause: "service web exited with code 3", created_at: "2025-01-02T03:04:05Z" },
    });
    expect(note).toMatch(/^Rolled back automatically to version 1 \(.+\) because version 2 failed to deploy: service web exited with code 3\.$/);
    expect(autoRollbackNote({ last_version_deployment: { source: "edit", status: "succeeded" } })).toBeNull();
  });

  it("a version is 'saved, not deployed' only when no deployment of it was tried", () => {
    const saved = { status: "running", current_version: 2, last_good_version: 1, last_version_deployment: { version: 1 } };
    expect(savedNotDeployed(saved)).toBe(true);
    expect(savedNotDeployed({ ...saved, last_version_deployment: { version: 2, status: "failed" } })).toBe(false);
    expect(savedNotDeployed(FAILED)).toBe(false);
  });

  it("enables only the actions that can work", () => {
    expect(actionState(FAILED)).toEqual({ start: "it never ran: deploy it first", stop: "nothing of it is running", restart: "nothing of it is running", redeploy: null });
    const running = { status: "running", current_version: 1, last_good_version: 1, services: [svc("web", "running")] };
    expect(actionState(running)).toEqual({ start: "it is running", stop: null, restart: null, redeploy: null });
    const stopped = { ...running, status: "stopped", services: [svc("web", "exited")] };
    expect(actionState(stopped)).toEqual({ start: null, stop: "nothing of it is running", restart: "nothing of it is running", redeploy: null });
    expect(actionState({ ...running, status: "deploying" }).stop).toBe("a deployment is under way");
  });
});

function renderState(app: App, role: "viewer" | "operator") {
  const root = createRootRoute({ component: () => <AppState app={app} canAct={role === "operator"} /> });
  const router = createRouter({ routeTree: root, history: createMemoryHistory({ initialEntries: ["/"] }) });
  render(withRole(role, <RouterProvider router={router} />));
}

describe("AppState", () => {
  it("shows a failed app's reason with the next steps", async () => {
    renderState(FAILED, "operator");
    const card = await screen.findByTestId("app-failed");
    expect(card).toHaveTextContent("This app failed to deploy and never ran");
    expect(card).toHaveTextContent("image nope:1 was not found");
    expect(screen.getByRole("link", { name: "View the log" })).toHaveAttribute("href", "/apps/broken/deployments/d1");
    expect(screen.getByRole("link", { name: /Edit compose/ })).toHaveAttribute("href", "/apps/broken/compose");
    expect(screen.getByRole("button", { name: /Retry/ })).toBeEnabled();
    expect(screen.getByRole("button", { name: "Remove" })).toBeEnabled();
    expect(screen.queryByTestId("undeployed-version")).not.toBeInTheDocument();
  });

  it("offers a viewer the log only", async () => {
    renderState(FAILED, "viewer");
    await screen.findByTestId("app-failed");
    expect(screen.getByRole("link", { name: "View the log" })).toBeInTheDocument();
    expect(screen.queryByRole("button")).not.toBeInTheDocument();
  });
});
