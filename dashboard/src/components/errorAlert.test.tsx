import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiError, explainError } from "@/api/errors";
import { ErrorAlert } from "@/components/common";
import { Button } from "@/components/ui/button";
import { settingFields, initialValues } from "@/lib/settingsForm";

const PULL =
  'image 127.0.0.1:1/shop:2 was not found or the registry cannot be reached (Docker said: Error response from daemon: Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused)';
const PORT =
  "service web: host port 8081 is already in use by AppOS itself (its public gRPC port). Choose another host port in the compose file";

describe("ErrorAlert", () => {
  it("shows a failed pull in plain words first, Docker's words on demand, and the next steps as buttons", async () => {
    const user = userEvent.setup();
    render(
      <ErrorAlert
        error={PULL}
        title="The deployment failed"
        actions={
          <>
            <Button>Edit compose</Button>
            <Button>Retry</Button>
            <Button>Remove</Button>
          </>
        }
      />,
    );
    const alert = screen.getByRole("alert");
    expect(alert).toHaveAttribute("data-problem", "image_pull");
    expect(within(alert).getByTestId("error-summary")).toHaveTextContent(
      "The image 127.0.0.1:1/shop:2 was not found, or its registry cannot be reached.",
    );
    expect(within(alert).getByTestId("error-summary")).not.toHaveTextContent("dial tcp");
    const details = alert.querySelector("details")!;
    expect(details.open).toBe(false);
    await user.click(within(alert).getByText("Details"));
    expect(details.open).toBe(true);
    expect(within(alert).getByTestId("error-detail")).toHaveTextContent("connection refused");
    for (const name of ["Edit compose", "Retry", "Remove"]) expect(within(alert).getByRole("button", { name })).toBeInTheDocument();
  });

  it("names the port and who holds it, and keeps the code and request id out of the summary", () => {
    render(<ErrorAlert error={new ApiError(400, "failed_precondition", PORT, "req-7")} />);
    const summary = screen.getByTestId("error-summary");
    expect(summary).toHaveTextContent("Port 8081 is already in use by AppOS itself (its public gRPC port). Choose another host port.");
    expect(summary).not.toHaveTextContent("req-7");
    expect(summary).not.toHaveTextContent("failed_precondition");
    const detail = screen.getByTestId("error-detail");
    expect(detail).toHaveTextContent(PORT);
    expect(detail).toHaveTextContent("code: failed_precondition");
    expect(detail).toHaveTextContent("request id req-7");
  });

  it("never shows exception class names or invalid_argument in the summary", () => {
    const dns = explainError(new ApiError(400, "invalid_argument", "shop.example does not resolve (gaierror): point its DNS A/AAAA record at this server, then try again", "r1"));
    expect(dns.kind).toBe("name_unresolved");
    expect(dns.summary).toBe("shop.example does not point to an address yet. Add a DNS A/AAAA record for it pointing at this server, then try again.");
    const hook = explainError("could not connect: ConnectError");
    expect(hook.kind).toBe("webhook_unreachable");
    expect(hook.summary).not.toMatch(/ConnectError|gaierror/);
    const plain = explainError(new ApiError(400, "invalid_argument", "compose file is empty", "r2"));
    expect(plain.summary).toBe("compose file is empty");
    expect(plain.detail).toContain("request id r2");
    expect(explainError("could not connect: the connection was refused (nothing listens there)").summary).toBe(
      "The webhook cannot be reached: the connection was refused (nothing listens there).",
    );
  });

  it("has no details when there is nothing more to say", () => {
    render(<ErrorAlert error={new Error("Fix the marked fields first.")} />);
    expect(screen.getByRole("alert").querySelector("details")).toBeNull();
  });
});

describe("settings with a taken default port", () => {
  it("start from the free port the server suggested, and say why", () => {
    const fields = settingFields([
      { key: "HTTP_PORT", type: "int", default: "8081", suggested: "8082", suggested_reason: "port 8081 is already in use by AppOS itself, so 8082 was picked" },
    ]);
    expect(initialValues(fields)).toEqual({ HTTP_PORT: "8082" });
    expect(fields[0].note).toContain("so 8082 was picked");
  });
});
