/** The Stores page's parts and a store template's page: who sees which buttons, Add store's busy
 * state and refusal (the form keeps what was typed), Refresh until the store_refreshed event,
 * Remove's confirmation, the details with skipped entries, and a `<store>/<name>` template's badge,
 * notes and deploy. Global fetch and WebSocket are stubbed; the typed client goes through them. */
import { createMemoryHistory, createRootRoute, createRoute, createRouter, Outlet, RouterProvider, useParams } from "@tanstack/react-router";
import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setToken } from "@/api/session";
import { StoresPage } from "@/components/StoresPage";
import { TemplateDetail } from "@/components/TemplateDetail";
import type { Role } from "@/lib/auth";
import { EventsProvider } from "@/lib/events";
import type { StoreDetail, StoreSummary } from "@/lib/stores";
import { stubFetch, type Call } from "@/test/stubs";
import { withRole } from "@/test/stubs";

const CASA: StoreSummary = {
  name: "casa",
  url: "/srv/stores/casa",
  format: "casaos",
  source: "folder",
  templates: 1,
  skipped: 1,
  refreshed_at: "2026-12-03T06:00:00Z",
  error: "",
  refreshing: false,
};
const EMPTY: StoreSummary = { name: "empty", url: "https://example.com/empty.git", format: "umbrel", source: "git", templates: 0, skipped: 0, error: "the store has no apps in the umbrel layout" };
const CASA_DETAIL: StoreDetail = {
  ...CASA,
  skipped: [{ entry: "Rooted", reason: "refused by the checks every app passes: privileged: true is not allowed" }],
  template_names: ["casa/whoami"],
};

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

function Stores() {
  const [open, setOpen] = useState<string | undefined>();
  return <StoresPage open={open} onOpen={setOpen} />;
}

function renderAt(role: Role, path: string, answer: (call: Call) => { status: number; body: unknown }) {
  setToken("tok", 3600);
  const calls = stubFetch(answer);
  const root = createRootRoute({ component: () => <Outlet /> });
  const routes = [
    createRoute({ getParentRoute: () => root, path: "/stores", component: Stores }),
    createRoute({ getParentRoute: () => root, path: "/catalog", component: () => <p>catalog page</p> }),
    createRoute({
      getParentRoute: () => root,
      path: "/catalog/$store/$template",
      component: function Page() {
        const { store, template } = useParams({ strict: false }) as { store: string; template: string };
        return <TemplateDetail name={`${store}/${template}`} />;
      },
    }),
    createRoute({ getParentRoute: () => root, path: "/apps/$name/deployments/$id", component: () => <p>deployment page</p> }),
  ];
  const router = createRouter({ routeTree: root.addChildren(routes), history: createMemoryHistory({ initialEntries: [path] }) });
  render(withRole(role, <EventsProvider><RouterProvider router={router} /></EventsProvider>));
  return { calls, router };
}

const stores = (list: StoreSummary[]) => (call: Call) =>
  call.method === "GET" && call.path === "/api/v1/catalog/stores" ? { status: 200, body: { stores: list } } : null;
const detail = (call: Call) => (call.method === "GET" && call.path === "/api/v1/catalog/stores/casa" ? { status: 200, body: CASA_DETAIL } : null);
const notFound = { status: 404, body: { code: "not_found", message: "not found" } };

beforeEach(() => {
  FakeSocket.opened = [];
  vi.stubGlobal("WebSocket", FakeSocket);
});
afterEach(() => vi.unstubAllGlobals());

describe("Stores page", () => {
  it("shows a viewer each store with its numbers and problem, and no admin button or form", async () => {
    renderAt("viewer", "/stores", (call) => stores([CASA, EMPTY])(call) ?? detail(call) ?? notFound);
    const casa = await screen.findByTestId("store-casa");
    expect(within(casa).getByTestId("store-format")).toHaveTextContent("CasaOS");
    expect(within(casa).getByTestId("store-templates")).toHaveTextContent("1");
    expect(within(casa).getByTestId("store-skipped")).toHaveTextContent("1");
    expect(within(casa).queryByTestId("store-problem")).toBeNull();
    const problem = within(screen.getByTestId("store-empty")).getByTestId("store-problem");
    expect(problem).toHaveTextContent("The store has no apps in the umbrel layout.");
    expect(problem).toHaveTextContent("format chosen instead of detected");
    expect(screen.queryByRole("button", { name: /Refresh/ })).toBeNull();
    expect(screen.queryByRole("button", { name: /Remove/ })).toBeNull();
    expect(screen.queryByLabelText("URL")).toBeNull();
  });

  it("opens a store's details: every skipped entry with its reason, and links to its templates", async () => {
    const user = userEvent.setup();
    const { router } = renderAt("viewer", "/stores", (call) => {
      if (call.path === "/api/v1/catalog/casa/whoami") return { status: 200, body: { name: "casa/whoami", title: "Who am I", store: "casa", settings: [] } };
      return stores([CASA])(call) ?? detail(call) ?? notFound;
    });
    const casa = await screen.findByTestId("store-casa");
    await user.click(within(casa).getByRole("button", { name: "Details" }));
    const details = await within(casa).findByTestId("store-details");
    expect(await within(details).findByTestId("skipped-Rooted")).toHaveTextContent("privileged: true is not allowed");
    await user.click(within(details).getByRole("link", { name: "casa/whoami" }));
    await waitFor(() => expect(router.state.location.pathname).toBe("/catalog/casa/whoami"));
    expect(await screen.findByRole("heading", { name: "Who am I" })).toBeInTheDocument();
  });

  it("adds a store: busy while the server fetches it, and its refusal keeps what was typed", async () => {
    const user = userEvent.setup();
    let release: (answer: { status: number; body: unknown }) => void = () => {};
    const answered = new Promise<{ status: number; body: unknown }>((resolve) => (release = resolve));
    const posts: unknown[] = [];
    setToken("tok", 3600);
    renderAt("admin", "/stores", (call) => stores([])(call) ?? notFound);
    // the POST waits until the test answers it, as a slow git clone would
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
    await screen.findByText(/No stores yet/);
    await user.type(screen.getByLabelText("URL"), "/srv/stores/My_Casa");
    expect(screen.getByLabelText("Name")).toHaveValue("my-casa"); // suggested from the URL
    await user.clear(screen.getByLabelText("Name"));
    await user.type(screen.getByLabelText("Name"), "casa");
    await user.selectOptions(screen.getByLabelText("Format"), "CasaOS");
    await user.click(screen.getByRole("button", { name: "Add store" }));
    expect(await screen.findByRole("button", { name: "Adding…" })).toBeDisabled();
    expect(screen.getByText(/Fetching the store and converting its apps/)).toBeInTheDocument();
    expect(posts).toEqual([{ name: "casa", url: "/srv/stores/My_Casa", format: "casaos" }]);

    release({ status: 400, body: { code: "invalid_argument", message: "store 'casa' could not be read: unknown store format", request_id: "r1" } });
    expect(await screen.findByRole("alert")).toHaveTextContent("store 'casa' could not be read: unknown store format");
    expect(screen.getByLabelText("URL")).toHaveValue("/srv/stores/My_Casa");
    expect(screen.getByLabelText("Name")).toHaveValue("casa");
    expect(screen.getByLabelText("Format")).toHaveValue("casaos");
    expect(screen.getByRole("button", { name: "Add store" })).toBeEnabled();
  });

  it("checks the name before asking the server", async () => {
    const user = userEvent.setup();
    const { calls } = renderAt("admin", "/stores", (call) => stores([])(call) ?? notFound);
    await screen.findByText(/No stores yet/);
    await user.type(screen.getByLabelText("URL"), "https://example.com/apps.zip");
    await user.clear(screen.getByLabelText("Name"));
    await user.type(screen.getByLabelText("Name"), "builtin");
    await user.click(screen.getByRole("button", { name: "Add store" }));
    expect(screen.getByText(/“builtin” is reserved/)).toBeInTheDocument();
    expect(calls.filter((c) => c.method === "POST")).toEqual([]);
  });

  it("says what was added and lists it", async () => {
    const user = userEvent.setup();
    let added = false;
    const { calls } = renderAt("admin", "/stores", (call) => {
      if (call.method === "POST") {
        added = true;
        return { status: 201, body: CASA_DETAIL };
      }
      return stores(added ? [CASA] : [])(call) ?? notFound;
    });
    await screen.findByText(/No stores yet/);
    await user.type(screen.getByLabelText("URL"), "/srv/stores/casa");
    await user.click(screen.getByRole("button", { name: "Add store" }));
    expect(await screen.findByText("Added casa (CasaOS): 1 template, 1 skipped.")).toBeInTheDocument();
    expect(await screen.findByTestId("store-casa")).toBeInTheDocument();
    expect(screen.getByLabelText("URL")).toHaveValue("");
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ name: "casa", url: "/srv/stores/casa", format: "" });
  });

  it("shows Refreshing… from the click until the store_refreshed event, then refetches", async () => {
    const user = userEvent.setup();
    const { calls } = renderAt("admin", "/stores", (call) => (call.method === "POST" ? { status: 202, body: { ...CASA_DETAIL, refreshing: true } } : (stores([CASA])(call) ?? notFound)));
    const casa = await screen.findByTestId("store-casa");
    FakeSocket.opened[0].receive({ type: "hello", after: 10 });
    await user.click(within(casa).getByRole("button", { name: "Refresh" }));
    expect(within(casa).getByTestId("store-refresh")).toHaveTextContent("Refreshing…");
    expect(within(casa).getByTestId("store-refresh")).toBeDisabled();
    await waitFor(() => expect(calls.some((c) => c.method === "POST" && c.path === "/api/v1/catalog/stores/casa/refresh")).toBe(true));
    // the list the server still shows as not refreshing does not end the wait: only the event does
    expect(within(casa).getByTestId("store-refresh")).toHaveTextContent("Refreshing…");
    const listed = calls.filter((c) => c.path === "/api/v1/catalog/stores").length;
    FakeSocket.opened[0].receive({ seq: 11, type: "store_refreshed", subject: "casa", payload: { store: "casa", templates: 1, skipped: 1, error: "", changed: ["casa/whoami"] } });
    expect(within(casa).getByTestId("store-refresh")).toHaveTextContent("Refresh");
    expect(within(casa).getByText(/1 template changed \(casa\/whoami\)/)).toBeInTheDocument();
    await waitFor(() => expect(calls.filter((c) => c.path === "/api/v1/catalog/stores").length).toBeGreaterThan(listed));
  });

  it("shows why a refresh could not start and lets it be tried again", async () => {
    const user = userEvent.setup();
    renderAt("admin", "/stores", (call) =>
      call.method === "POST" ? { status: 409, body: { code: "conflict", message: "store 'casa' is already being refreshed or removed; wait until it ends" } } : (stores([CASA])(call) ?? notFound),
    );
    const casa = await screen.findByTestId("store-casa");
    await user.click(within(casa).getByRole("button", { name: "Refresh" }));
    expect(await within(casa).findByRole("alert")).toHaveTextContent("already being refreshed");
    expect(within(casa).getByTestId("store-refresh")).toHaveTextContent("Refresh");
    expect(within(casa).getByTestId("store-refresh")).toBeEnabled();
  });

  it("removes a store after saying its apps keep running", async () => {
    const user = userEvent.setup();
    let removed = false;
    const { calls } = renderAt("admin", "/stores", (call) => {
      if (call.method === "DELETE") {
        removed = true;
        return { status: 200, body: {} };
      }
      return stores(removed ? [] : [CASA])(call) ?? notFound;
    });
    const casa = await screen.findByTestId("store-casa");
    await user.click(within(casa).getByRole("button", { name: "Remove casa" }));
    const dialog = screen.getByRole("dialog");
    expect(dialog).toHaveTextContent("Apps already deployed from it keep running");
    await user.click(within(dialog).getByRole("button", { name: "Remove store" }));
    await waitFor(() => expect(screen.queryByTestId("store-casa")).toBeNull());
    expect(calls.filter((c) => c.method === "DELETE").map((c) => c.path)).toEqual(["/api/v1/catalog/stores/casa"]);
  });
});

describe("a store's template", () => {
  const TEMPLATE = {
    name: "casa/whoami",
    title: "Who am I",
    description: "Answers with its host name",
    store: "casa",
    notes: ["The fixed password ADMIN_PASSWORD=admin was replaced by a generated one.", "The host folder /DATA/whoami became the volume data."],
    settings: [{ key: "WEB_PORT", type: "int", default: "8080", required: true }],
    compose: "services: {}\n",
  };

  it("reads it at /catalog/{store}/{template}, marks it as community, shows its notes and deploys it by its full name", async () => {
    const user = userEvent.setup();
    const { calls, router } = renderAt("operator", "/catalog/casa/whoami", (call) => {
      if (call.method === "GET" && call.path === "/api/v1/catalog/casa/whoami") return { status: 200, body: TEMPLATE };
      if (call.method === "POST" && call.path === "/api/v1/apps") return { status: 200, body: { app: { name: "whoami" }, deployment: { id: "d1" } } };
      return notFound;
    });
    expect(await screen.findByRole("heading", { name: "Who am I" })).toBeInTheDocument();
    expect(screen.getByTestId("community-badge")).toHaveTextContent("casa · community, not reviewed by AppOS");
    const notes = screen.getByTestId("template-notes");
    expect(notes).toHaveTextContent("What AppOS changed when it converted this app from casa");
    expect(within(notes).getAllByRole("listitem").map((li) => li.textContent)).toEqual(TEMPLATE.notes);
    // the notes come before the settings form
    expect(notes.compareDocumentPosition(screen.getByLabelText("App name")) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    expect(screen.getByLabelText("App name")).toHaveValue("whoami");
    await user.click(screen.getByRole("button", { name: "Deploy" }));
    await waitFor(() => expect(router.state.location.pathname).toBe("/apps/whoami/deployments/d1"));
    expect(calls.find((c) => c.method === "POST")?.body).toEqual(expect.objectContaining({ name: "whoami", template: "casa/whoami" }));
  });
});
