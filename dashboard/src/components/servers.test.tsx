/** The Servers page: each server's status and facts with its error in plain words, who sees the key
 * and the buttons, Add server's busy state and refusal (the form keeps what was typed), Re-pin's and
 * Remove's confirmations, and the list read again on the server_* events. Global fetch and
 * WebSocket are stubbed; the typed client goes through them. */
import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setToken } from "@/api/session";
import { ServersPage } from "@/components/ServersPage";
import type { Role } from "@/lib/auth";
import { EventsProvider } from "@/lib/events";
import type { Server } from "@/lib/servers";
import { stubFetch, withRole, type Call } from "@/test/stubs";

const LOCAL: Server = { name: "local", address: "local", status: "local", engine_version: "27.3.1", api_version: "1.47", cpus: 4, memory_bytes: "8321499136", apps: 3 };
const EDGE: Server = {
  name: "edge",
  address: "ssh://deploy@203.0.113.7:22",
  docker_socket: "/var/run/docker.sock",
  status: "up",
  error: "",
  host_key_fingerprint: "SHA256:edgeEdgeEdge",
  engine_version: "24.0.7",
  api_version: "1.43",
  cpus: 2,
  memory_bytes: "2147483648",
  apps: 1,
  last_seen: "2026-12-03T09:00:00Z",
};
const MOVED: Server = {
  name: "moved",
  address: "ssh://deploy@198.51.100.4:2222",
  docker_socket: "/var/run/docker.sock",
  status: "down",
  error: "the host key of 198.51.100.4 is not the one pinned when the server was added; if it changed for a good reason (a reinstall), re-pin it: POST /api/v1/servers/NAME/repin",
  host_key_fingerprint: "SHA256:oldOldOld",
  apps: 0,
};
const KEY = { public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAppOSkeyAppOSkeyAppOSkeyAppOSkey appos", fingerprint: "SHA256:appOSkey" };
const notFound = { status: 404, body: { code: "not_found", message: "not found" } };

/** The gateway's events WebSocket, driven by the test. */
class FakeSocket {
  static opened: FakeSocket[] = [];
  readyState = 1;
  onmessage: ((message: { data: string }) => void) | null = null;
  onclose: ((close: { code: number }) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.opened.push(this);
  }
  send() {}
  close() {
    this.readyState = 3;
  }
  receive(data: Record<string, unknown>) {
    act(() => this.onmessage?.({ data: JSON.stringify(data) }));
  }
}

const servers = (list: Server[]) => (call: Call) => (call.method === "GET" && call.path === "/api/v1/servers" ? { status: 200, body: { servers: list } } : null);
const key = (call: Call) => (call.method === "GET" && call.path === "/api/v1/servers/key" ? { status: 200, body: KEY } : null);

function renderPage(role: Role, answer: (call: Call) => { status: number; body: unknown }) {
  setToken("tok", 3600);
  const calls = stubFetch(answer);
  render(withRole(role, <EventsProvider><ServersPage /></EventsProvider>));
  return calls;
}

beforeEach(() => {
  FakeSocket.opened = [];
  vi.stubGlobal("WebSocket", FakeSocket);
});
afterEach(() => vi.unstubAllGlobals());

describe("Servers page", () => {
  it("shows a viewer every server, local first, with its facts and its problem in plain words, and nothing to change", async () => {
    const calls = renderPage("viewer", (call) => servers([LOCAL, EDGE, MOVED])(call) ?? notFound);
    const local = await screen.findByTestId("server-local");
    expect(screen.getAllByTestId(/^server-(local|edge|moved)$/).map((el) => el.dataset.testid)).toEqual(["server-local", "server-edge", "server-moved"]);
    expect(within(local).getByTestId("server-status")).toHaveTextContent("this machine");
    expect(within(local).getByTestId("server-engine")).toHaveTextContent("Docker 27.3.1 (API 1.47)");
    expect(within(local).getByTestId("server-capacity")).toHaveTextContent("4 CPUs, 7.8 GiB");
    expect(within(local).getByTestId("server-apps")).toHaveTextContent("3");
    expect(within(local).queryByTestId("server-fingerprint")).toBeNull();

    const edge = screen.getByTestId("server-edge");
    expect(within(edge).getByTestId("server-status")).toHaveTextContent("up");
    expect(edge).toHaveTextContent("ssh://deploy@203.0.113.7:22");
    expect(within(edge).getByTestId("server-capacity")).toHaveTextContent("2 CPUs, 2.0 GiB");
    expect(within(edge).getByTestId("server-fingerprint")).toHaveTextContent("SHA256:edgeEdgeEdge");
    expect(within(edge).queryByTestId("server-problem")).toBeNull();

    const moved = screen.getByTestId("server-moved");
    expect(within(moved).getByTestId("server-status")).toHaveTextContent("down");
    expect(within(moved).getByTestId("server-engine")).toHaveTextContent("—");
    const problem = within(moved).getByTestId("server-problem");
    expect(problem).toHaveTextContent("The host key of 198.51.100.4 is not the one AppOS pinned when the server was added");
    expect(problem).toHaveTextContent("do not re-pin");
    expect(problem).not.toHaveTextContent("/api/v1");

    expect(screen.queryByRole("button")).toBeNull();
    expect(screen.queryByLabelText("Address")).toBeNull();
    expect(screen.queryByTestId("server-public-key")).toBeNull();
    expect(calls.some((c) => c.path === "/api/v1/servers/key")).toBe(false);
  });

  it("shows an admin AppOS's key with where it goes, and copies it", async () => {
    vi.stubGlobal("isSecureContext", true);
    const user = userEvent.setup(); // with a clipboard of its own
    renderPage("admin", (call) => servers([LOCAL])(call) ?? key(call) ?? notFound);
    expect(await screen.findByTestId("server-public-key")).toHaveTextContent(KEY.public_key);
    expect(screen.getByTestId("server-key-fingerprint")).toHaveTextContent("SHA256:appOSkey");
    expect(screen.getByText(/add this line to/)).toHaveTextContent("~/.ssh/authorized_keys");
    await user.click(screen.getByRole("button", { name: "Copy AppOS's public key" }));
    expect(await navigator.clipboard.readText()).toBe(KEY.public_key);
    expect(await screen.findByRole("button", { name: "Copy AppOS's public key" })).toHaveTextContent("Copied");
    // local has no Re-pin or Remove
    expect(within(screen.getByTestId("server-local")).queryByRole("button")).toBeNull();
  });

  it("adds a server: busy while the server checks SSH and Docker, and its refusal keeps what was typed", async () => {
    const user = userEvent.setup();
    let release: (answer: { status: number; body: unknown }) => void = () => {};
    const answered = new Promise<{ status: number; body: unknown }>((resolve) => (release = resolve));
    const posts: unknown[] = [];
    renderPage("admin", (call) => servers([LOCAL])(call) ?? key(call) ?? notFound);
    // the POST waits until the test answers it, as the SSH and Docker checks would
    const listing = globalThis.fetch;
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: Request) => {
        if (input.method !== "POST") return listing(input);
        posts.push(await input.json());
        const { status, body } = await answered;
        return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
      }),
    );
    await screen.findByTestId("server-local");
    await user.type(screen.getByLabelText("Name"), "edge");
    await user.type(screen.getByLabelText("Address"), "ssh://deploy@203.0.113.7:22");
    await user.click(screen.getByRole("button", { name: "Add server" }));
    expect(await screen.findByRole("button", { name: "Adding…" })).toBeDisabled();
    expect(screen.getByText(/Checking SSH, the host key and Docker on the server; this can take up to a minute/)).toBeInTheDocument();
    expect(screen.getByLabelText("Address")).toBeDisabled();
    expect(posts).toEqual([{ name: "edge", address: "ssh://deploy@203.0.113.7:22" }]);

    release({
      status: 400,
      body: { code: "invalid_argument", message: "deploy@203.0.113.7 refused AppOS's key: add the key from GET /api/v1/servers/key to ~deploy/.ssh/authorized_keys on the server", request_id: "r1" },
    });
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("The server was not added; nothing was saved.");
    expect(within(alert).getByTestId("error-summary")).toHaveTextContent(
      `deploy@203.0.113.7 refused AppOS's SSH key. Add AppOS's public key (under "AppOS's SSH key") to ~deploy/.ssh/authorized_keys on the server.`,
    );
    // the server's own words stay under Details
    expect(within(alert).getByTestId("error-detail")).toHaveTextContent("GET /api/v1/servers/key");
    expect(screen.getByLabelText("Name")).toHaveValue("edge");
    expect(screen.getByLabelText("Address")).toHaveValue("ssh://deploy@203.0.113.7:22");
    expect(screen.getByRole("button", { name: "Add server" })).toBeEnabled();
  });

  it("checks the name and address before asking the server", async () => {
    const user = userEvent.setup();
    const calls = renderPage("admin", (call) => servers([LOCAL])(call) ?? key(call) ?? notFound);
    await screen.findByTestId("server-local");
    await user.type(screen.getByLabelText("Name"), "local");
    await user.type(screen.getByLabelText("Address"), "deploy@203.0.113.7");
    await user.type(screen.getByLabelText("Docker socket (optional)"), "docker.sock");
    await user.click(screen.getByRole("button", { name: "Add server" }));
    expect(screen.getByText(/“local” is reserved/)).toBeInTheDocument();
    expect(screen.getByText(/The address starts with ssh:\/\//)).toBeInTheDocument();
    expect(screen.getByText(/An absolute path on the server/)).toBeInTheDocument();
    expect(screen.getByLabelText("Address")).toHaveAttribute("aria-invalid", "true");
    expect(calls.filter((c) => c.method === "POST")).toEqual([]);
  });

  it("says what was added, empties the form and lists the new server", async () => {
    const user = userEvent.setup();
    let added = false;
    const calls = renderPage("admin", (call) => {
      if (call.method === "POST") {
        added = true;
        return { status: 201, body: EDGE };
      }
      return servers(added ? [LOCAL, EDGE] : [LOCAL])(call) ?? key(call) ?? notFound;
    });
    await screen.findByTestId("server-local");
    await user.type(screen.getByLabelText("Name"), "edge");
    await user.type(screen.getByLabelText("Address"), "ssh://deploy@203.0.113.7");
    await user.type(screen.getByLabelText("Docker socket (optional)"), "/run/docker.sock");
    await user.click(screen.getByRole("button", { name: "Add server" }));
    expect(await screen.findByText("Added edge: Docker 24.0.7 (API 1.43), host key SHA256:edgeEdgeEdge pinned.")).toBeInTheDocument();
    expect(await screen.findByTestId("server-edge")).toBeInTheDocument();
    expect(screen.getByLabelText("Address")).toHaveValue("");
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ name: "edge", address: "ssh://deploy@203.0.113.7", docker_socket: "/run/docker.sock" });
  });

  it("asks for the CA, the client certificate and its key for a tcp:// address, and sends them", async () => {
    const user = userEvent.setup();
    const TLS: Server = { ...EDGE, name: "tls1", address: "tcp://203.0.113.9:2376", docker_socket: "", transport: "tls", host_key_fingerprint: "SHA256:0a1b" };
    let added = false;
    const calls = renderPage("admin", (call) => {
      if (call.method === "POST") {
        added = true;
        return { status: 201, body: TLS };
      }
      return servers(added ? [LOCAL, TLS] : [LOCAL])(call) ?? key(call) ?? notFound;
    });
    await screen.findByTestId("server-local");
    expect(screen.queryByTestId("server-tls-fields")).toBeNull();
    await user.type(screen.getByLabelText("Name"), "tls1");
    await user.type(screen.getByLabelText("Address"), "tcp://203.0.113.9:2376");
    expect(screen.getByTestId("server-tls-fields")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Add server" }));
    expect(screen.getByText(/Paste the CA certificate \(PEM\)/)).toBeInTheDocument();
    expect(screen.getByLabelText("Client key")).toHaveAttribute("aria-invalid", "true");
    expect(calls.filter((c) => c.method === "POST")).toEqual([]);

    const cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    const pem = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----";
    for (const [label, text] of [["CA certificate", cert], ["Client certificate", cert], ["Client key", pem]]) {
      await user.click(screen.getByLabelText(label));
      await user.paste(text);
    }
    await user.click(screen.getByRole("button", { name: "Add server" }));
    expect(await screen.findByText("Added tls1: Docker 24.0.7 (API 1.43), certificate SHA256:0a1b pinned.")).toBeInTheDocument();
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ name: "tls1", address: "tcp://203.0.113.9:2376", ca_pem: cert, cert_pem: cert, key_pem: pem });
    expect(await screen.findByTestId("server-tls1")).toBeInTheDocument();
    expect(screen.queryByTestId("server-tls-fields")).toBeNull(); // the form is empty again: nothing of the key stays on screen
    expect(within(screen.getByTestId("server-tls1")).getByText("Certificate")).toBeInTheDocument();
  });

  it("re-pins only after a confirmation that says when it is safe", async () => {
    const user = userEvent.setup();
    let pinned = false;
    const calls = renderPage("admin", (call) => {
      if (call.method === "POST" && call.path === "/api/v1/servers/moved/repin") {
        pinned = true;
        return { status: 200, body: { ...MOVED, status: "connecting", error: "", host_key_fingerprint: "SHA256:newNewNew" } };
      }
      return servers([LOCAL, pinned ? { ...MOVED, status: "up", error: "", host_key_fingerprint: "SHA256:newNewNew" } : MOVED])(call) ?? key(call) ?? notFound;
    });
    const moved = await screen.findByTestId("server-moved");
    await user.click(within(moved).getByRole("button", { name: "Re-pin moved" }));
    const dialog = screen.getByRole("dialog");
    expect(dialog).toHaveTextContent("a changed key can mean that someone is between AppOS and the server");
    expect(dialog).toHaveTextContent("Re-pin only after checking that the server was reinstalled");
    expect(dialog).toHaveTextContent("Pinned now: SHA256:oldOldOld");
    await user.click(within(dialog).getByRole("button", { name: "Trust the new key" }));
    expect(await within(moved).findByText("Host key SHA256:newNewNew pinned; AppOS connects with it now.")).toBeInTheDocument();
    await waitFor(() => expect(within(moved).getByTestId("server-status")).toHaveTextContent("up"));
    expect(within(moved).queryByTestId("server-problem")).toBeNull();
    expect(calls.filter((c) => c.method === "POST").map((c) => c.path)).toEqual(["/api/v1/servers/moved/repin"]);
  });

  it("removes a server after a confirmation, and shows the server's refusal while apps live there", async () => {
    const user = userEvent.setup();
    let removed = false;
    const calls = renderPage("admin", (call) => {
      if (call.method === "DELETE" && call.path === "/api/v1/servers/edge") {
        return { status: 400, body: { code: "failed_precondition", message: "1 app(s) live on server 'edge'; remove or move them first" } };
      }
      if (call.method === "DELETE") {
        removed = true;
        return { status: 200, body: {} };
      }
      return servers(removed ? [LOCAL, EDGE] : [LOCAL, EDGE, MOVED])(call) ?? key(call) ?? notFound;
    });
    const edge = await screen.findByTestId("server-edge");
    await user.click(within(edge).getByRole("button", { name: "Remove edge" }));
    let dialog = screen.getByRole("dialog");
    expect(dialog).toHaveTextContent("1 app lives on edge");
    await user.click(within(dialog).getByRole("button", { name: "Remove server" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("1 app(s) live on server 'edge'; remove or move them first");
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());

    await user.click(within(screen.getByTestId("server-moved")).getByRole("button", { name: "Remove moved" }));
    dialog = screen.getByRole("dialog");
    expect(dialog).toHaveTextContent("Nothing on the server is changed");
    await user.click(within(dialog).getByRole("button", { name: "Remove server" }));
    await waitFor(() => expect(screen.queryByTestId("server-moved")).toBeNull());
    expect(calls.filter((c) => c.method === "DELETE").map((c) => c.path)).toEqual(["/api/v1/servers/edge", "/api/v1/servers/moved"]);
  });

  it("reads the list again when a server is added, removed or re-pinned elsewhere", async () => {
    let list = [LOCAL];
    const calls = renderPage("viewer", (call) => servers(list)(call) ?? notFound);
    await screen.findByTestId("server-local");
    FakeSocket.opened[0].receive({ type: "hello", after: 10 });
    list = [LOCAL, EDGE];
    FakeSocket.opened[0].receive({ seq: 11, type: "server_added", subject: "edge", payload: { server: "edge" } });
    expect(await screen.findByTestId("server-edge")).toBeInTheDocument();
    list = [LOCAL];
    FakeSocket.opened[0].receive({ seq: 12, type: "server_removed", subject: "edge", payload: { server: "edge" } });
    await waitFor(() => expect(screen.queryByTestId("server-edge")).toBeNull());
    expect(calls.filter((c) => c.path === "/api/v1/servers").length).toBeGreaterThanOrEqual(3);
  });
});
