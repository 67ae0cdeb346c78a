/** The option, notification and log components: role-aware rendering, inline validation, and the
 * requests they send (global fetch stubbed; the typed client goes through it). */
import { useQuery } from "@tanstack/react-query";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { App } from "@/api/client";
import { setToken } from "@/api/session";
import { stubFetch, withRole } from "@/test/stubs";
import { AppOptionsCard } from "@/components/AppOptions";
import { LogView } from "@/components/LogView";
import { NotificationTargetForm } from "@/components/NotificationTargetForm";

const KINDS = ["deployment_failed", "auto_rollback", "certificate_expiring", "certificate_failed", "app_unhealthy"];
const APP: App = { name: "blog", status: "running", auto_rollback: true, backup_volumes: false, policy_exceptions: ["cap_add:NET_ADMIN"] };

/** The card as the overview shows it: the app from the query cache, which a save updates. */
function LiveCard({ app }: { app: App }) {
  const live = useQuery({ queryKey: ["app", app.name], queryFn: () => app, initialData: app, staleTime: Infinity });
  return <AppOptionsCard app={live.data} />;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("AppOptionsCard", () => {
  it("shows a viewer the values and no controls", () => {
    render(withRole("viewer", <AppOptionsCard app={APP} />));
    expect(screen.getByTestId("option-auto_rollback")).toHaveTextContent("on");
    expect(screen.getByTestId("option-backup_volumes")).toHaveTextContent("off");
    expect(screen.getByTestId("policy-exceptions")).toHaveTextContent("cap_add:NET_ADMIN");
    expect(screen.queryByRole("checkbox")).not.toBeInTheDocument();
    expect(screen.queryByRole("button")).not.toBeInTheDocument();
  });

  it("lets an operator change the options, sending only what changed", async () => {
    setToken("tok", 3600);
    const calls = stubFetch(({ body }) => ({ status: 200, body: { ...APP, ...(body as object) } }));
    const user = userEvent.setup();
    render(withRole("operator", <LiveCard app={APP} />));
    const save = screen.getByRole("button", { name: "Save options" });
    expect(save).toBeDisabled(); // nothing changed yet
    expect(screen.queryByText(/Change exceptions/)).not.toBeInTheDocument(); // admins only
    await user.click(screen.getByLabelText("Include volumes in backups"));
    expect(save).toBeEnabled();
    await user.click(save);
    expect(await screen.findByText("Options saved.")).toBeInTheDocument();
    expect(calls).toEqual([{ method: "PATCH", path: "/api/v1/apps/blog/options", body: { backup_volumes: true } }]);
  });

  it("shows the server's refusal as an alert", async () => {
    setToken("tok", 3600);
    stubFetch(() => ({ status: 409, body: { code: "conflict", message: "a deployment of blog is running", request_id: "r7" } }));
    const user = userEvent.setup();
    render(withRole("operator", <LiveCard app={APP} />));
    await user.click(screen.getByLabelText("Automatic rollback"));
    await user.click(screen.getByRole("button", { name: "Save options" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("a deployment of blog is running");
  });

  it("lets an admin allow exceptions, with a reason, after a confirmation", async () => {
    setToken("tok", 3600);
    const calls = stubFetch(({ body }) => ({ status: 200, body: { ...APP, policy_exceptions: (body as { exceptions: string[] }).exceptions } }));
    const user = userEvent.setup();
    render(withRole("admin", <LiveCard app={APP} />));
    await user.click(screen.getByText("Change exceptions (admin)"));
    expect(screen.getByLabelText("Allowed capabilities (cap_add)")).toHaveValue("NET_ADMIN");
    await user.click(screen.getByRole("checkbox", { name: /devices/ }));
    const save = screen.getByRole("button", { name: "Save exceptions" });
    expect(save).toBeDisabled(); // no reason yet
    await user.type(screen.getByLabelText("Allowed capabilities (cap_add)"), ",x");
    expect(screen.getByText(/X is not a capability name/)).toBeInTheDocument();
    await user.clear(screen.getByLabelText("Allowed capabilities (cap_add)"));
    await user.type(screen.getByLabelText("Allowed capabilities (cap_add)"), "bpf");
    await user.type(screen.getByLabelText("Reason (kept in the audit log)"), "gpu");
    await user.click(save);
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Confirm" }));
    expect(await screen.findByText("Exceptions saved.")).toBeInTheDocument();
    expect(calls).toEqual([
      { method: "PUT", path: "/api/v1/apps/blog/policy", body: { exceptions: ["cap_add:BPF", "devices"], reason: "gpu" } },
    ]);
  });
});

describe("NotificationTargetForm", () => {
  it("marks what is wrong and sends nothing", async () => {
    const calls = stubFetch(() => ({ status: 200, body: {} }));
    const user = userEvent.setup();
    render(<NotificationTargetForm eventKinds={KINDS} onSaved={() => {}} />);
    await user.click(screen.getByRole("button", { name: "Add target" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Fix the marked fields first.");
    expect(screen.getByLabelText("Target name")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("URL")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText(/Enter a secret of 16–256 characters/)).toBeInTheDocument();
    expect(calls).toEqual([]);
  });

  it("creates a webhook target with a generated secret", async () => {
    setToken("tok", 3600);
    const calls = stubFetch(({ body }) => ({ status: 200, body: { ...(body as object), kind: "webhook", webhook: { url: "x", secret_set: true } } }));
    const saved = vi.fn();
    const user = userEvent.setup();
    render(<NotificationTargetForm eventKinds={KINDS} onSaved={saved} />);
    await user.type(screen.getByLabelText("Target name"), "ops");
    await user.type(screen.getByLabelText("URL"), "https://hooks.example.com/appos");
    await user.click(screen.getByRole("button", { name: "Generate" }));
    const secret = screen.getByLabelText("Secret") as HTMLInputElement;
    expect(secret.type).toBe("text"); // shown once, to copy
    expect(secret.value).toMatch(/^[0-9a-f]{32}$/);
    await user.click(screen.getByRole("checkbox", { name: /app_unhealthy/ }));
    await user.click(screen.getByRole("button", { name: "Add target" }));
    await waitFor(() => expect(saved).toHaveBeenCalledOnce());
    expect(calls).toEqual([
      {
        method: "POST",
        path: "/api/v1/notifications/targets",
        body: { name: "ops", enabled: true, events: ["auto_rollback", "certificate_expiring", "certificate_failed", "deployment_failed"], webhook: { url: "https://hooks.example.com/appos", secret: secret.value } },
      },
    ]);
  });

  it("edits an email target without showing or resending its password", async () => {
    setToken("tok", 3600);
    const calls = stubFetch(({ body }) => ({ status: 200, body }));
    const user = userEvent.setup();
    const existing = {
      name: "mail",
      kind: "email",
      enabled: true,
      events: ["deployment_failed"],
      email: { host: "smtp.example.com", port: 587, security: "starttls", username: "bot", password_set: true, from_address: "a@example.com", to: ["x@example.com"] },
    };
    render(<NotificationTargetForm eventKinds={KINDS} existing={existing} onSaved={() => {}} />);
    expect(screen.getByLabelText("Target name")).toBeDisabled();
    expect(screen.getByTestId("password-state")).toHaveTextContent("set — leave empty to keep it");
    expect(screen.getByLabelText("SMTP password")).toHaveValue("");
    await user.type(screen.getByLabelText("To"), ", y@example.com");
    await user.click(screen.getByRole("button", { name: "Save target" }));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0]).toEqual({
      method: "PUT",
      path: "/api/v1/notifications/targets/mail",
      body: {
        enabled: true,
        events: ["deployment_failed"],
        email: { host: "smtp.example.com", port: 587, security: "starttls", username: "bot", password: "", from_address: "a@example.com", to: ["x@example.com", "y@example.com"] },
      },
    });
  });

  it("shows the server's refusal and stays open", async () => {
    setToken("tok", 3600);
    stubFetch(() => ({ status: 409, body: { code: "already_exists", message: "notification target 'ops' already exists", request_id: "r2" } }));
    const saved = vi.fn();
    const user = userEvent.setup();
    render(<NotificationTargetForm eventKinds={KINDS} onSaved={saved} />);
    await user.type(screen.getByLabelText("Target name"), "ops");
    await user.type(screen.getByLabelText("URL"), "http://127.0.0.1:9/x");
    await user.type(screen.getByLabelText("Secret"), "0123456789abcdef");
    await user.click(screen.getByRole("button", { name: "Add target" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("notification target 'ops' already exists");
    expect(saved).not.toHaveBeenCalled();
  });
});

describe("LogView", () => {
  it("shows what it is given while empty, then the lines", () => {
    const { rerender } = render(<LogView lines={[]} testId="log" empty={<span role="status">Waiting for log lines…</span>} />);
    expect(screen.getByRole("status")).toHaveTextContent("Waiting for log lines…");
    rerender(<LogView lines={[{ key: 1, text: "serving" }]} testId="log" empty="never shown" />);
    expect(screen.getByTestId("log")).toHaveTextContent("serving");
    expect(screen.queryByRole("status")).not.toBeInTheDocument();
  });
});
