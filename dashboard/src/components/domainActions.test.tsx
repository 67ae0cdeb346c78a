/** A domain's actions by role: only an admin gets Remove on the console's own domain (the server
 * refuses anyone else); operators keep Renew there and both actions on app domains. */
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Domain } from "@/api/client";
import { DomainActions } from "@/components/DomainActions";
import { withRole } from "@/test/stubs";

const CONSOLE: Domain = { domain: "console.example.com", console: true, https: true, force_https: true };
const APP: Domain = { domain: "blog.example.com", app: "blog", service: "web", port: 80, https: true, force_https: true };

function actions(domain: Domain, onRemove = vi.fn(async () => {})) {
  return <DomainActions domain={domain} renewing={false} onRenew={() => {}} onRemove={onRemove} />;
}

describe("DomainActions", () => {
  it("gives an operator no Remove for the console's domain", () => {
    render(withRole("operator", actions(CONSOLE)));
    expect(screen.queryByRole("button", { name: "Remove console.example.com" })).not.toBeInTheDocument();
    expect(screen.getByText("admins only")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Renew" })).toBeEnabled();
  });

  it("gives an operator Remove for an app's domain", () => {
    render(withRole("operator", actions(APP)));
    expect(screen.getByRole("button", { name: "Remove blog.example.com" })).toBeInTheDocument();
    expect(screen.queryByText("admins only")).not.toBeInTheDocument();
  });

  it("lets an admin remove the console's domain after a confirmation", async () => {
    const onRemove = vi.fn(async () => {});
    const user = userEvent.setup();
    render(withRole("admin", actions(CONSOLE, onRemove)));
    await user.click(screen.getByRole("button", { name: "Remove console.example.com" }));
    const dialog = screen.getByRole("dialog");
    expect(dialog).toHaveTextContent("The console stops answering on this name");
    await user.click(within(dialog).getByRole("button", { name: "Confirm" }));
    expect(onRemove).toHaveBeenCalledTimes(1);
  });
});
