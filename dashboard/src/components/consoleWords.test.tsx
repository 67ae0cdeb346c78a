/** Issue 17, "controls and words that follow the state": confirmed user changes and no self-defeating
 * controls, the audit log in words, copy buttons, links that open an app, and the logs' tools. */
import { fireEvent, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { setToken } from "@/api/session";
import { CopyButton } from "@/components/CopyButton";
import { LogView } from "@/components/LogView";
import { UserRow } from "@/components/UserRow";
import { portUrl } from "@/lib/apps";
import { auditSentence, codeInWords } from "@/lib/auditWords";
import { logText, searchLines, serviceColour } from "@/lib/logs";
import { stubFetch, withRole } from "@/test/stubs";

afterEach(() => {
  vi.unstubAllGlobals();
});

function row(user: { username: string; role: string; disabled?: boolean }) {
  // withRole signs in as "u"
  return withRole(
    "admin",
    <table>
      <tbody>
        <UserRow user={user} />
      </tbody>
    </table>,
  );
}

describe("UserRow", () => {
  it("offers no role change, disabling or deleting on your own row", () => {
    render(row({ username: "u", role: "admin" }));
    expect(screen.getByText("you")).toBeInTheDocument();
    expect(screen.queryByRole("combobox")).not.toBeInTheDocument();
    expect(screen.queryByRole("button")).not.toBeInTheDocument();
  });

  it("asks before changing a role, and sends nothing on Cancel", async () => {
    setToken("tok", 3600);
    const calls = stubFetch(() => ({ status: 200, body: { username: "bob", role: "admin" } }));
    const user = userEvent.setup();
    render(row({ username: "bob", role: "viewer" }));
    await user.selectOptions(screen.getByLabelText("Role of bob"), "admin");
    const dialog = await screen.findByRole("dialog");
    expect(dialog).toHaveTextContent("Make bob an admin?");
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(calls).toEqual([]);
    await user.selectOptions(screen.getByLabelText("Role of bob"), "operator");
    await user.click(within(await screen.findByRole("dialog")).getByRole("button", { name: "Change role" }));
    expect(calls).toEqual([{ method: "PATCH", path: "/api/v1/users/bob", body: { role: "operator" } }]);
  });

  it("asks before disabling; an error stays in the dialog and goes when the next try succeeds", async () => {
    setToken("tok", 3600);
    let fail = true;
    const calls = stubFetch(() => (fail ? { status: 503, body: { code: "unavailable", message: "state is not answering", request_id: "r1" } } : { status: 200, body: {} }));
    const user = userEvent.setup();
    render(row({ username: "bob", role: "viewer" }));
    await user.click(screen.getByRole("button", { name: "Disable" }));
    const dialog = await screen.findByRole("dialog");
    expect(dialog).toHaveTextContent("Disable bob?");
    await user.click(within(dialog).getByRole("button", { name: "Disable" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("state is not answering");
    fail = false;
    await user.click(within(dialog).getByRole("button", { name: "Disable" }));
    await vi.waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    expect(calls.map((c) => c.body)).toEqual([{ disabled: true }, { disabled: true }]);
  });
});

describe("audit words", () => {
  it("says what an entry did", () => {
    expect(auditSentence({ action: "appos.v1.Apps.Rollback", target: "blog/2", app: "blog" })).toBe("Rolled back blog to version 2");
    expect(auditSentence({ action: "appos.v1.Apps.Rollback", target: "blog", app: "blog" })).toBe("Rolled back blog to an earlier version");
    expect(auditSentence({ action: "appos.v1.Apps.StopApp", target: "blog" })).toBe("Stopped blog");
    expect(auditSentence({ action: "appos.v1.Auth.UpdateUser", target: "eve" })).toBe("Changed user eve");
    expect(auditSentence({ action: "appos.v1.Apps.SomethingNew", target: "x" })).toBe("Something new: x");
  });

  it("puts error codes in words", () => {
    expect(codeInWords("ok")).toBe("Done");
    expect(codeInWords("permission_denied")).toBe("Permission denied");
    expect(codeInWords("some_new_code")).toBe("Some new code");
  });
});

describe("CopyButton", () => {
  it("puts the text on the clipboard and says so", async () => {
    const writeText = vi.fn(async () => {});
    vi.stubGlobal("isSecureContext", true);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    render(<CopyButton text="appos_secret" what="token" />);
    fireEvent.click(screen.getByRole("button", { name: "Copy token" }));
    expect(await screen.findByText("Copied")).toBeInTheDocument();
    expect(writeText).toHaveBeenCalledWith("appos_secret");
  });

  it("falls back to a selected text area over plain HTTP", async () => {
    vi.stubGlobal("isSecureContext", false);
    const exec = vi.fn(() => true);
    Object.defineProperty(document, "execCommand", { value: exec, configurable: true });
    render(<CopyButton text="pw" />);
    fireEvent.click(screen.getByRole("button", { name: "Copy" }));
    expect(await screen.findByText("Copied")).toBeInTheDocument();
    expect(exec).toHaveBeenCalledWith("copy");
    expect(document.querySelector("textarea")).toBeNull(); // cleaned up
  });
});

describe("open links", () => {
  it("turns a published TCP port into a URL on this host", () => {
    expect(portUrl("0.0.0.0:8081->80/tcp", { hostname: "box.lan" })).toBe("http://box.lan:8081/");
    expect(portUrl("[::]:8081->80/tcp", { hostname: "::1" })).toBe("http://[::1]:8081/");
    expect(portUrl("80/tcp", { hostname: "box.lan" })).toBeNull(); // not published
    expect(portUrl("0.0.0.0:53->53/udp", { hostname: "box.lan" })).toBeNull();
  });
});

describe("logs", () => {
  const lines = [
    { key: 1, text: "GET / 200", service: "web", time: "2026-01-02T03:04:05.123Z" },
    { key: 2, text: "ready to accept connections", service: "db", time: "2026-01-02T03:04:06Z" },
  ];

  it("gives each service its own colour, searches and writes a download", () => {
    expect(serviceColour("web", ["web", "db"])).not.toBe(serviceColour("db", ["web", "db"]));
    expect(serviceColour("db", ["web", "db"])).toBe(serviceColour("db", ["db", "web", "db"].slice(1)));
    expect(searchLines(lines, "ACCEPT").map((l) => l.key)).toEqual([2]);
    expect(searchLines(lines, " ")).toEqual(lines);
    expect(logText(lines)).toBe("2026-01-02T03:04:05.123Z web | GET / 200\n2026-01-02T03:04:06Z db | ready to accept connections\n");
    expect(logText(lines, { times: false, services: false })).toBe("GET / 200\nready to accept connections\n");
  });

  it("shows prefixes, timestamps on request, wrap off, and highlights the search", () => {
    const { rerender } = render(<LogView lines={lines} services={["web", "db"]} testId="log" />);
    expect(screen.getAllByTestId("log-service").map((e) => e.textContent)).toEqual(["web |", "db |"]);
    expect(screen.queryByTestId("log-time")).not.toBeInTheDocument();
    rerender(<LogView lines={lines} services={["web", "db"]} testId="log" showTime wrap={false} highlight="accept" />);
    expect(screen.getAllByTestId("log-time")).toHaveLength(2);
    expect(screen.getByTestId("log")).toHaveAttribute("data-wrap", "off");
    expect(screen.getByText("accept", { selector: "mark" })).toBeInTheDocument();
  });
});
