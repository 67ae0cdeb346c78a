/** The "new app from compose" form: who sees it, what it refuses before sending, the body it sends,
 * and a server refusal shown next to the field it is about (global fetch stubbed). */
import { EditorView } from "@codemirror/view";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { setToken } from "@/api/session";
import { stubFetch, withRole, type Call } from "@/test/stubs";
import { ComposeAppForm } from "@/components/ComposeAppForm";
import { STARTER_COMPOSE } from "@/lib/composeApp";

/** Replaces the text of the CodeMirror editor with this test id, as a paste does. */
function setEditor(testId: string, text: string) {
  const element = screen.getByTestId(testId).querySelector(".cm-editor");
  const view = element && EditorView.findFromDOM(element as HTMLElement);
  if (!view) throw new Error(`no editor in ${testId}`);
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

afterEach(() => {
  vi.unstubAllGlobals();
});

/** The requests besides the live check's (composeCheck.test.tsx tests that one). */
const sent = (calls: Call[]) => calls.filter((c) => c.path !== "/api/v1/apps:validate");

describe("ComposeAppForm", () => {
  it("is not offered to a viewer", () => {
    render(withRole("viewer", <ComposeAppForm onCreated={() => {}} />));
    expect(screen.getByRole("alert")).toHaveTextContent("needs the operator role");
    expect(screen.queryByRole("button", { name: "Create and deploy" })).not.toBeInTheDocument();
    expect(screen.queryByTestId("new-compose-editor")).not.toBeInTheDocument();
  });

  it("marks what is wrong and sends nothing", async () => {
    const calls = stubFetch(() => ({ status: 202, body: {} }));
    const user = userEvent.setup();
    render(withRole("operator", <ComposeAppForm onCreated={() => {}} />));
    setEditor("new-compose-editor", "  ");
    setEditor("new-env-editor", "GOOD=1\nnot a line\n");
    await user.click(screen.getByRole("button", { name: "Create and deploy" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Fix the marked fields first.");
    expect(screen.getByLabelText("App name")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText("Give the app a name.")).toBeInTheDocument();
    expect(screen.getByText("Paste or write a compose file.")).toBeInTheDocument();
    expect(screen.getByText(".env line 2 is not KEY=value.")).toBeInTheDocument();
    expect(sent(calls)).toEqual([]);
  });

  it("sends the files and options and hands over the deployment", async () => {
    setToken("tok", 3600);
    const calls = stubFetch(() => ({ status: 202, body: { app: { name: "blog" }, deployment: { id: "d-1", status: "pending" } } }));
    const created = vi.fn();
    const user = userEvent.setup();
    render(withRole("operator", <ComposeAppForm onCreated={created} />));
    expect(screen.queryByText("Policy exceptions (admin)")).not.toBeInTheDocument(); // admins only
    await user.type(screen.getByLabelText("App name"), "Blog");
    setEditor("new-env-editor", "PORT=8080\n");
    await user.type(screen.getByLabelText("Message (optional)"), "first version");
    await user.click(screen.getByLabelText(/Automatic rollback/));
    await user.click(screen.getByRole("button", { name: "Create and deploy" }));
    await waitFor(() => expect(created).toHaveBeenCalledOnce());
    expect(created).toHaveBeenCalledWith({ name: "blog", deploymentId: "d-1", generated: undefined });
    expect(sent(calls)).toEqual([
      {
        method: "POST",
        path: "/api/v1/apps",
        body: { name: "blog", compose: STARTER_COMPOSE, env: "PORT=8080\n", message: "first version", auto_rollback: false },
      },
    ]);
  });

  it("lets an admin allow policy exceptions, with a reason", async () => {
    setToken("tok", 3600);
    const calls = stubFetch(() => ({ status: 202, body: { deployment: { id: "d-2" } } }));
    const created = vi.fn();
    const user = userEvent.setup();
    render(withRole("admin", <ComposeAppForm onCreated={created} />));
    await user.type(screen.getByLabelText("App name"), "tools");
    await user.click(screen.getByText("Policy exceptions (admin)"));
    await user.click(screen.getByRole("checkbox", { name: /privileged/ }));
    const paths = screen.getByLabelText("Allowed host paths (host_path)");
    await user.type(paths, "srv/media");
    expect(screen.getByText(/srv\/media is not an absolute, normalized path/)).toBeInTheDocument();
    await user.clear(paths);
    await user.type(paths, "/srv/media/");
    expect(screen.queryByText(/not an absolute, normalized path/)).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Create and deploy" }));
    expect(screen.getByText("Say why: allowing exceptions is audited.")).toBeInTheDocument();
    expect(sent(calls)).toEqual([]);
    await user.type(screen.getByLabelText("Reason (kept with version 1)"), "reads /srv/media");
    await user.click(screen.getByRole("button", { name: "Create and deploy" }));
    await waitFor(() => expect(created).toHaveBeenCalledOnce());
    expect(sent(calls)[0].body).toMatchObject({
      name: "tools",
      allow: ["host_path:/srv/media", "privileged"],
      message: "policy exceptions host_path:/srv/media, privileged: reads /srv/media",
    });
  });

  it("shows the server's refusal next to the compose file, with the request id", async () => {
    setToken("tok", 3600);
    const message =
      "compose policy: service main volume /etc: /etc is outside the app's folder (rule host_path:/etc). An admin can allow a rule for this app (docs/architecture.md lists them).";
    stubFetch(() => ({ status: 400, body: { code: "invalid_argument", message, request_id: "req-42" } }));
    const created = vi.fn();
    const user = userEvent.setup();
    render(withRole("operator", <ComposeAppForm onCreated={created} />));
    await user.type(screen.getByLabelText("App name"), "web");
    await user.click(screen.getByRole("button", { name: "Create and deploy" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent(message);
    expect(alert).toHaveTextContent("request id req-42");
    expect(screen.getByTestId("new-compose-editor").parentElement).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("App name")).toHaveValue("web"); // kept, to fix and send again
    expect(created).not.toHaveBeenCalled();
  });

  it("puts a name the server refuses on the name field", async () => {
    setToken("tok", 3600);
    stubFetch(() => ({ status: 409, body: { code: "already_exists", message: "app 'web' already exists", request_id: "r1" } }));
    const user = userEvent.setup();
    render(withRole("operator", <ComposeAppForm onCreated={() => {}} />));
    await user.type(screen.getByLabelText("App name"), "web");
    await user.click(screen.getByRole("button", { name: "Create and deploy" }));
    await screen.findByRole("alert");
    expect(screen.getByLabelText("App name")).toHaveAttribute("aria-invalid", "true");
  });
});
