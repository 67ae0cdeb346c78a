/** Two-factor authentication in the console: the account page's card (set up with the QR code and
 * a code, recovery codes shown once with a copy button, turning it off), the code prompt of the
 * terminals, and what the login form sends (global fetch stubbed; the typed client goes through it). */
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeClient } from "@/api/client";
import { ApiError } from "@/api/errors";
import { getToken, peekLoginNotice, setToken } from "@/api/session";
import { TotpPrompt } from "@/components/TotpPrompt";
import { TwoFactorCard } from "@/components/TwoFactorCard";
import { changePassword, SIGN_IN_AGAIN_WITH_CODE } from "@/lib/account";
import { appCode, needsCode, secondFactor } from "@/lib/twoFactor";
import { stubFetch, withRole } from "@/test/stubs";

const SETUP = {
  secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
  otpauth_uri: "otpauth://totp/AppOS:u?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=AppOS",
  qr_svg: '<svg xmlns="http://www.w3.org/2000/svg" width="164" height="164"><path d="M2 2.5h7"/></svg>',
};
const CODES = ["k7mq2-x9fpa", "b3nrt-c8wz4"];

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("two-factor helpers", () => {
  it("sends six digits as a code and anything else as a recovery code", () => {
    expect(secondFactor("123 456")).toEqual({ totp_code: "123456" });
    expect(secondFactor(" k7mq2-x9fpa ")).toEqual({ recovery_code: "k7mq2-x9fpa" });
    expect(appCode("12 34 56")).toBe("123456");
    expect(appCode("12345")).toBeNull();
    expect(appCode("abcdef")).toBeNull();
  });

  it("knows the server's ask for a code", () => {
    expect(needsCode(new ApiError(401, "totp_required", "send totp_code"))).toBe(true);
    expect(needsCode(new ApiError(401, "totp_invalid", "already used"))).toBe(true);
    expect(needsCode(new ApiError(401, "unauthenticated", "invalid username or password"))).toBe(false);
  });
});

describe("TwoFactorCard", () => {
  it("sets it up: QR code and secret, a code from the app, then the recovery codes once", async () => {
    setToken("tok", 3600);
    const calls = stubFetch(({ path }) =>
      path.endsWith(":begin") ? { status: 200, body: SETUP } : { status: 200, body: { recovery_codes: CODES, user: { username: "u", totp_enabled: true } } },
    );
    const user = userEvent.setup(); // with a clipboard of its own
    render(withRole("viewer", <TwoFactorCard enabled={false} />));
    expect(screen.getByTestId("two-factor-status")).toHaveTextContent("off");
    await user.click(screen.getByRole("button", { name: "Set up" }));
    expect(await screen.findByTestId("totp-secret")).toHaveTextContent(SETUP.secret);
    expect(screen.getByTestId("totp-qr").querySelector("svg")).not.toBeNull();

    await user.type(screen.getByLabelText("Code from the app"), "12345");
    await user.click(screen.getByRole("button", { name: "Turn on" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("6-digit code");
    expect(calls).toHaveLength(1); // nothing sent for five digits

    await user.type(screen.getByLabelText("Code from the app"), "6");
    await user.click(screen.getByRole("button", { name: "Turn on" }));
    const list = await screen.findByTestId("recovery-codes");
    expect(list).toHaveTextContent(CODES[0]);
    expect(list).toHaveTextContent(CODES[1]);
    expect(calls.map((c) => [c.method, c.path, c.body])).toEqual([
      ["POST", "/api/v1/auth/totp:begin", {}],
      ["POST", "/api/v1/auth/totp:confirm", { code: "123456" }],
    ]);
    await user.click(screen.getByRole("button", { name: "Copy codes" }));
    expect(await navigator.clipboard.readText()).toBe(`${CODES.join("\n")}\n`);
    expect(screen.getByRole("button", { name: "Copied" })).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "I have saved them" }));
    expect(screen.queryByTestId("recovery-codes")).not.toBeInTheDocument(); // shown once
  });

  it("shows a wrong code's refusal and stays on the setup", async () => {
    setToken("tok", 3600);
    stubFetch(({ path }) =>
      path.endsWith(":begin")
        ? { status: 200, body: SETUP }
        : { status: 400, body: { code: "invalid_argument", message: "the two-factor code is wrong, expired or already used", request_id: "r1" } },
    );
    const user = userEvent.setup();
    render(withRole("viewer", <TwoFactorCard enabled={false} />));
    await user.click(screen.getByRole("button", { name: "Set up" }));
    await user.type(await screen.findByLabelText("Code from the app"), "000000");
    await user.click(screen.getByRole("button", { name: "Turn on" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("wrong, expired or already used");
    expect(screen.getByTestId("totp-secret")).toBeInTheDocument();
  });

  it("turns it off with the password, or with a current code", async () => {
    setToken("tok", 3600);
    const calls = stubFetch(() => ({ status: 200, body: { username: "u", totp_enabled: false } }));
    const user = userEvent.setup();
    render(withRole("viewer", <TwoFactorCard enabled />));
    expect(screen.getByTestId("two-factor-status")).toHaveTextContent("on");
    expect(screen.queryByRole("button", { name: "Set up" })).not.toBeInTheDocument();
    await user.type(screen.getByLabelText("Password or current code"), "my-password-1");
    await user.click(screen.getByRole("button", { name: "Turn off" }));
    expect(await screen.findByText("Two-factor authentication is off.")).toBeInTheDocument();
    await waitFor(() => expect(calls[0]).toEqual({ method: "POST", path: "/api/v1/auth/totp:disable", body: { password: "my-password-1" } }));
  });

  it("sends six digits as the code when turning it off", async () => {
    setToken("tok", 3600);
    const calls = stubFetch(() => ({ status: 200, body: { username: "u", totp_enabled: false } }));
    const user = userEvent.setup();
    render(withRole("viewer", <TwoFactorCard enabled />));
    await user.type(screen.getByLabelText("Password or current code"), "654321");
    await user.click(screen.getByRole("button", { name: "Turn off" }));
    await waitFor(() => expect(calls[0]?.body).toEqual({ code: "654321" }));
  });
});

describe("TotpPrompt", () => {
  it("asks for six digits and hands them on", async () => {
    const onCode = vi.fn();
    const user = userEvent.setup();
    render(<TotpPrompt message="a terminal needs a current two-factor code" onCode={onCode} />);
    expect(screen.getByText("a terminal needs a current two-factor code")).toBeInTheDocument();
    await user.type(screen.getByLabelText("Two-factor code"), "12a");
    await user.click(screen.getByRole("button", { name: "Connect" }));
    expect(onCode).not.toHaveBeenCalled();
    expect(screen.getByText(/Six digits/)).toBeInTheDocument();
    await user.clear(screen.getByLabelText("Two-factor code"));
    await user.type(screen.getByLabelText("Two-factor code"), "123 456");
    await user.click(screen.getByRole("button", { name: "Connect" }));
    expect(onCode).toHaveBeenCalledWith("123456");
  });
});

describe("changePassword with two-factor authentication", () => {
  it("sends the user to the login page to sign in with a code", async () => {
    setToken("old-session", 3600);
    const client = makeClient({
      baseUrl: "http://appos.test",
      fetch: (async (request: Request) => {
        const login = new URL(request.url).pathname.endsWith("/login");
        const body = login ? { code: "totp_required", message: "send totp_code", request_id: "r" } : { username: "ana" };
        return new Response(JSON.stringify(body), { status: login ? 401 : 200, headers: { "Content-Type": "application/json" } });
      }) as unknown as typeof globalThis.fetch,
    });
    const user = await changePassword("ana", { current: "old-password", next: "new-password-1", repeat: "new-password-1" }, client);
    expect(user.username).toBe("ana");
    expect(getToken()).toBeNull();
    expect(peekLoginNotice()).toBe(SIGN_IN_AGAIN_WITH_CODE);
  });
});
