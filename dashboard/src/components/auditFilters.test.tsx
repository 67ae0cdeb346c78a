/** The audit filters offer what the table shows and send what was chosen. */
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { AuditFilters, auditChoices, shownAction } from "@/components/AuditFilters";

const ENTRIES = [
  { id: "3", actor: "alice", action: "appos.v1.Apps.Rollback", app: "blog", result: "ok" },
  { id: "2", actor: "-", action: "appos.v1.Auth.Login", app: "", result: "unauthenticated" },
  { id: "1", actor: "bob", action: "terminal.session_start", app: "blog", result: "ok" },
  { id: "0", actor: "alice", action: "appos.v1.Apps.Rollback", app: "wiki", result: "ok" },
];

describe("audit filters", () => {
  it("list each action as the table shows it, each user and each app once", () => {
    expect(shownAction("appos.v1.Apps.Rollback")).toBe("Apps.Rollback");
    expect(auditChoices(ENTRIES)).toEqual({
      user: ["alice", "bob"],
      app: ["blog", "wiki"],
      action: ["Apps.Rollback", "Auth.Login", "terminal.session_start"],
    });
  });

  it("offer the choices and apply what the user picked", async () => {
    const onApply = vi.fn();
    const user = userEvent.setup();
    render(<AuditFilters entries={ENTRIES} onApply={onApply} />);
    const actions = screen.getByTestId("audit-action-choices");
    expect(screen.getByLabelText(/action/i)).toHaveAttribute("list", actions.id);
    expect([...actions.querySelectorAll("option")].map((o) => o.value)).toEqual(["Apps.Rollback", "Auth.Login", "terminal.session_start"]);
    expect([...within(screen.getByTestId("audit-user-choices")).queryAllByRole("option", { hidden: true })]).toHaveLength(2);
    await user.type(screen.getByLabelText(/action/i), "Apps.Rollback ");
    await user.type(screen.getByLabelText(/app/i), "blog");
    await user.click(screen.getByRole("button", { name: "Filter" }));
    expect(onApply).toHaveBeenCalledWith({ user: "", app: "blog", action: "Apps.Rollback" });
  });
});
