import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "@/api/errors";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { DiffView } from "@/components/DiffView";
import { ErrorAlert, StatusBadge } from "@/components/common";
import { SettingsFields } from "@/components/SettingsForm";
import { Button } from "@/components/ui/button";
import { initialValues, settingFields, validateSettings, type SettingValues } from "@/lib/settingsForm";

describe("DiffView", () => {
  it("renders added and removed lines with their numbers and counts", () => {
    render(<DiffView title="compose.yaml" diff={"@@ -1,2 +1,2 @@\n services:\n-  old: 1\n+  new: 2\n"} />);
    expect(screen.getByText("compose.yaml")).toBeInTheDocument();
    expect(screen.getByText("+1")).toBeInTheDocument();
    expect(screen.getByText("−1")).toBeInTheDocument();
    const added = screen.getByText("new: 2", { exact: false }).closest("tr")!;
    expect(added).toHaveAttribute("data-kind", "add");
    const removed = screen.getByText("old: 1", { exact: false }).closest("tr")!;
    expect(removed).toHaveAttribute("data-kind", "del");
  });

  it("says so when nothing changed", () => {
    render(<DiffView title=".env" diff="" />);
    expect(screen.getByText("No changes.")).toBeInTheDocument();
  });
});

function Form({ onValues }: { onValues: (v: SettingValues) => void }) {
  const fields = settingFields([
    { key: "HTTP_PORT", type: "int", default: "8081", required: true, help: "Host port" },
    { key: "ADMIN_PASSWORD", type: "password" },
    { key: "DEBUG", type: "bool" },
    { key: "EDITION", type: "choice", choices: ["ce", "ee"], default: "ce" },
  ]);
  const [values, setValues] = useState(() => initialValues(fields));
  const errors = validateSettings(fields, values);
  onValues(values);
  return <SettingsFields fields={fields} values={values} errors={errors} onChange={(k, v) => setValues((old) => ({ ...old, [k]: v }))} />;
}

describe("SettingsFields", () => {
  it("renders an input per setting, labelled in words with its key as a hint, with inline validation", async () => {
    const user = userEvent.setup();
    let latest: SettingValues = {};
    render(<Form onValues={(v) => (latest = v)} />);
    const port = screen.getByLabelText("HTTP_PORT", { exact: false });
    expect(port).toHaveValue(8081);
    expect(screen.getByLabelText(/^Admin password.*ADMIN_PASSWORD$/)).toHaveAttribute("type", "password");
    expect(screen.getByLabelText(/^Edition.*EDITION$/)).toHaveDisplayValue("ce");
    await user.click(screen.getByLabelText(/^Debug.*DEBUG$/));
    expect(latest.DEBUG).toBe("true");
    await user.selectOptions(screen.getByLabelText(/^Edition.*EDITION$/), "ee");
    expect(latest.EDITION).toBe("ee");
    await user.clear(port);
    expect(port).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText("Web port is required.")).toBeInTheDocument();
    await user.type(port, "9000");
    expect(port).not.toHaveAttribute("aria-invalid");
    expect(latest.HTTP_PORT).toBe("9000");
  });
});

describe("ConfirmDialog", () => {
  it("runs the action only after Confirm, then closes", async () => {
    const user = userEvent.setup();
    const action = vi.fn(async () => undefined);
    render(<ConfirmDialog trigger={<Button>Restart</Button>} title="Restart blog?" onConfirm={action} />);
    await user.click(screen.getByRole("button", { name: "Restart" }));
    const dialog = screen.getByRole("dialog");
    expect(within(dialog).getByText("Restart blog?")).toBeInTheDocument();
    expect(action).not.toHaveBeenCalled();
    await user.click(within(dialog).getByRole("button", { name: "Confirm" }));
    expect(action).toHaveBeenCalledOnce();
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
  });

  it("stays open with the server's message when the action fails", async () => {
    const user = userEvent.setup();
    const action = vi.fn(async () => {
      throw new ApiError(409, "conflict", "a deployment of blog is already running", "req-9");
    });
    render(<ConfirmDialog trigger={<Button>Stop</Button>} title="Stop blog?" onConfirm={action} />);
    await user.click(screen.getByRole("button", { name: "Stop" }));
    await user.click(screen.getByRole("button", { name: "Confirm" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("a deployment of blog is already running");
    expect(alert).toHaveTextContent("request id req-9");
    expect(screen.getByRole("dialog")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
  });
});

describe("status and errors", () => {
  it("shows the status word alone in its test id", () => {
    render(<StatusBadge status="partially_running" testId="app-status-blog" />);
    expect(screen.getByTestId("app-status-blog")).toHaveTextContent(/^partially_running$/);
  });

  it("shows nothing without an error, and a plain Error's message", () => {
    const { container, rerender } = render(<ErrorAlert error={null} />);
    expect(container).toBeEmptyDOMElement();
    rerender(<ErrorAlert error={new Error("boom")} />);
    expect(screen.getByRole("alert")).toHaveTextContent("boom");
  });
});
