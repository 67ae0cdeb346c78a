/** Leaving a page with unsaved edits asks first; Stay keeps the page, Leave goes on. */
import { createMemoryHistory, createRootRoute, createRoute, createRouter, Link, Outlet, RouterProvider } from "@tanstack/react-router";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import { UnsavedChangesPrompt } from "@/components/UnsavedChanges";

function Editor() {
  const [text, setText] = useState("");
  return (
    <>
      <UnsavedChangesPrompt dirty={text !== ""} what="your compose edits" />
      <label>
        compose
        <textarea value={text} onChange={(e) => setText(e.target.value)} />
      </label>
    </>
  );
}

// A route of this test's own router, typed as one of the console's (the registered router).
const OTHER = "/other" as "/";

function renderAt(path: string) {
  const root = createRootRoute({
    component: () => (
      <>
        <Link to={OTHER}>Other tab</Link>
        <Outlet />
      </>
    ),
  });
  const routeTree = root.addChildren([
    createRoute({ getParentRoute: () => root, path: "/edit", component: Editor }),
    createRoute({ getParentRoute: () => root, path: "/other", component: () => <h1>Other page</h1> }),
  ]);
  const router = createRouter({ routeTree, history: createMemoryHistory({ initialEntries: [path] }) });
  render(<RouterProvider router={router} />);
  return router;
}

describe("UnsavedChangesPrompt", () => {
  it("lets a page without edits go at once", async () => {
    const user = userEvent.setup();
    renderAt("/edit");
    await user.click(await screen.findByRole("link", { name: "Other tab" }));
    expect(await screen.findByRole("heading", { name: "Other page" })).toBeInTheDocument();
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });

  it("asks before edits are lost: Stay keeps them, Leave goes on", async () => {
    const user = userEvent.setup();
    const router = renderAt("/edit");
    await user.type(await screen.findByLabelText("compose"), "services: x");
    await user.click(screen.getByRole("link", { name: "Other tab" }));
    const dialog = await screen.findByRole("dialog");
    expect(dialog).toHaveTextContent("your compose edits are lost");
    await user.click(screen.getByRole("button", { name: "Stay" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(screen.getByLabelText("compose")).toHaveValue("services: x");
    expect(router.state.location.pathname).toBe("/edit");

    await user.click(screen.getByRole("link", { name: "Other tab" }));
    await user.click(await screen.findByRole("button", { name: "Leave and lose your compose edits" }));
    expect(await screen.findByRole("heading", { name: "Other page" })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe("/other");
  });
});
