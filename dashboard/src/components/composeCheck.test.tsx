/** The compose editors' live check (`POST /api/v1/apps:validate`): what the new-app form shows for a
 * valid file, a refused one and one with warnings, and, on the hook, that typing waits for a pause,
 * cancels the request in flight and never shows an answer for older text (global fetch stubbed). */
import { act, render, renderHook, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { setToken } from "@/api/session";
import { ComposeAppForm } from "@/components/ComposeAppForm";
import { CHECK_DELAY_MS, useComposeCheck } from "@/hooks/useComposeCheck";
import { STARTER_COMPOSE } from "@/lib/composeApp";
import type { ComposeCheckInput } from "@/lib/composeCheck";
import { stubFetch, withRole, type Call } from "@/test/stubs";

const VALIDATE = "/api/v1/apps:validate";
const REFUSAL =
  "compose policy: service web: privileged is not allowed (rule privileged); " +
  "service web volume .: mounts the app's own folder; mount a folder inside it (never allowed). " +
  "An admin can allow a rule for this app (docs/architecture.md lists them).";
const WAIT = { timeout: 5_000 }; // the check waits half a second after the last change

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const checks = (calls: Call[]) => calls.filter((c) => c.path === VALIDATE);

/** The new-app form for `role`, every check answered by `answer`; the name typed in. */
async function typedForm(role: "operator" | "admin", answer: (call: Call) => { status: number; body: unknown }) {
  setToken("tok", 3600);
  const calls = stubFetch((call) => (call.path === VALIDATE ? answer(call) : { status: 500, body: {} }));
  const user = userEvent.setup();
  render(withRole(role, <ComposeAppForm onCreated={() => {}} />));
  expect(screen.getByTestId("compose-check")).toHaveTextContent("Name the app to have the file checked as you type.");
  await user.type(screen.getByLabelText("App name"), "blog");
  return calls;
}

describe("the new-app form's live check", () => {
  it("says the file is valid and how many services it has, after one request for what was typed", async () => {
    const calls = await typedForm("operator", () => ({ status: 200, body: { services: ["db", "web"], warnings: [] } }));
    const panel = screen.getByTestId("compose-check");
    expect(await within(panel).findByText(/Valid — 2 services/, {}, WAIT)).toBeInTheDocument();
    expect(panel).toHaveTextContent("(db, web)");
    expect(checks(calls)).toEqual([{ method: "POST", path: VALIDATE, body: { name: "blog", compose: STARTER_COMPOSE, env: "" } }]);
  });

  it("shows each refusal with its rule as a tag, says what to do, and still lets the user send", async () => {
    await typedForm("operator", () => ({ status: 400, body: { code: "invalid_argument", message: REFUSAL, request_id: "r1" } }));
    const refusals = await screen.findByTestId("compose-check-refusals", {}, WAIT);
    const items = within(refusals).getAllByRole("listitem");
    expect(items).toHaveLength(2);
    expect(items[0]).toHaveTextContent("service web: privileged is not allowed");
    expect(within(items[0]).getByText("privileged")).toHaveAttribute("title", "The rule an admin can allow for this app");
    expect(items[1]).toHaveTextContent("mounts the app's own folder; mount a folder inside it");
    expect(within(items[1]).getByText("never allowed")).toBeInTheDocument();
    const panel = screen.getByTestId("compose-check");
    expect(panel).toHaveTextContent("Edit the file to do without it, or ask an admin to allow the rule shown for this app.");
    expect(panel).toHaveTextContent("What is marked never allowed has to change in the file.");
    expect(panel).not.toHaveTextContent("As an admin"); // an operator cannot
    expect(screen.queryByRole("alert")).not.toBeInTheDocument(); // advice while typing, not an error
    expect(screen.getByRole("button", { name: "Create and deploy" })).toBeEnabled();
  });

  it("tells an admin where to allow the rule, and checks with the exceptions asked for", async () => {
    const calls = await typedForm("admin", () => ({ status: 400, body: { code: "invalid_argument", message: REFUSAL, request_id: "r2" } }));
    expect(await screen.findByText(/As an admin, you can allow it for this app under Policy exceptions below/, {}, WAIT)).toBeInTheDocument();
    const user = userEvent.setup();
    await user.click(screen.getByText("Policy exceptions (admin)"));
    await user.click(screen.getByRole("checkbox", { name: /privileged/ }));
    await waitFor(() => expect(checks(calls).at(-1)?.body).toMatchObject({ name: "blog", allow: ["privileged"] }), WAIT);
  });

  it("lists the warnings of a file it accepts", async () => {
    const warnings = ["service web: the image tag latest changes under you", "version is obsolete"];
    await typedForm("operator", () => ({ status: 200, body: { services: ["web"], warnings } }));
    const list = await screen.findByTestId("compose-check-warnings", {}, WAIT);
    expect(within(list).getAllByRole("listitem").map((li) => li.textContent)).toEqual(warnings);
    expect(screen.getByTestId("compose-check")).toHaveTextContent("Valid — 1 service");
    expect(screen.getByTestId("compose-check")).toHaveTextContent("2 warnings (the file is accepted)");
  });

  it("says when it could not check, without calling the file wrong", async () => {
    await typedForm("operator", () => ({ status: 503, body: { code: "unavailable", message: "the deployer is not answering", request_id: "r3" } }));
    expect(await screen.findByText(/Could not check the file: the deployer is not answering/, {}, WAIT)).toBeInTheDocument();
    expect(screen.getByTestId("compose-check")).toHaveTextContent("Saving still works");
  });
});

type Pending = { body: ComposeCheckInput; signal: AbortSignal; answer: (status: number, body: unknown) => Promise<void> };

/** A fetch whose answers the test gives, one request at a time. */
function heldFetch(): Pending[] {
  const pending: Pending[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      const body = JSON.parse(await request.text()) as ComposeCheckInput;
      return new Promise<Response>((resolve) => {
        pending.push({
          body,
          signal: request.signal,
          answer: async (status, reply) => {
            await act(async () => resolve(new Response(JSON.stringify(reply), { status, headers: { "Content-Type": "application/json" } })));
          },
        });
      });
    }),
  );
  return pending;
}

const file = (compose: string): ComposeCheckInput => ({ name: "blog", compose, env: "" });

describe("useComposeCheck", () => {
  it("waits for a pause in typing, then sends one request for the latest text", async () => {
    vi.useFakeTimers();
    const pending = heldFetch();
    const { result, rerender } = renderHook(({ input }: { input: ComposeCheckInput | null }) => useComposeCheck(input), { initialProps: { input: file("a") } });
    expect(result.current).toEqual({ outcome: null, stale: true });
    await act(() => vi.advanceTimersByTimeAsync(CHECK_DELAY_MS - 100));
    rerender({ input: file("ab") });
    await act(() => vi.advanceTimersByTimeAsync(CHECK_DELAY_MS - 100));
    rerender({ input: file("abc") });
    await act(() => vi.advanceTimersByTimeAsync(CHECK_DELAY_MS - 1));
    expect(fetch).not.toHaveBeenCalled();
    await act(() => vi.advanceTimersByTimeAsync(1));
    await vi.waitFor(() => expect(pending).toHaveLength(1));
    expect(pending[0].body).toEqual({ name: "blog", compose: "abc", env: "" });
    await pending[0].answer(200, { services: ["web"], warnings: [] });
    expect(result.current).toEqual({ outcome: { kind: "valid", services: ["web"], warnings: [] }, stale: false });
  });

  it("cancels the request in flight when the text changes, and ignores its late answer", async () => {
    vi.useFakeTimers();
    const pending = heldFetch();
    const { result, rerender } = renderHook(({ input }: { input: ComposeCheckInput | null }) => useComposeCheck(input), {
      initialProps: { input: file("privileged: true") },
    });
    await act(() => vi.advanceTimersByTimeAsync(CHECK_DELAY_MS));
    await vi.waitFor(() => expect(pending).toHaveLength(1));
    rerender({ input: file("fixed") });
    expect(pending[0].signal.aborted).toBe(true);
    await act(() => vi.advanceTimersByTimeAsync(CHECK_DELAY_MS));
    await vi.waitFor(() => expect(pending).toHaveLength(2));
    await pending[1].answer(200, { services: ["web"], warnings: [] });
    await pending[0].answer(400, { code: "invalid_argument", message: REFUSAL }); // late, for the old text
    expect(result.current).toEqual({ outcome: { kind: "valid", services: ["web"], warnings: [] }, stale: false });

    rerender({ input: file("edited again") }); // the last answer stays, marked as not current
    expect(result.current).toMatchObject({ outcome: { kind: "valid" }, stale: true });
  });

  it("checks nothing without input (a viewer, a form not ready)", async () => {
    vi.useFakeTimers();
    heldFetch();
    const { result } = renderHook(() => useComposeCheck(null));
    await act(() => vi.advanceTimersByTimeAsync(CHECK_DELAY_MS * 4));
    expect(fetch).not.toHaveBeenCalled();
    expect(result.current).toEqual({ outcome: null, stale: false });
  });
});
