import { createFileRoute } from "@tanstack/react-router";
import { Plug, Unplug } from "lucide-react";
import { useState } from "react";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { ErrorAlert, PageHeader, Spinner } from "@/components/common";
import { TerminalView, type TerminalState } from "@/components/TerminalView";
import { TotpPrompt } from "@/components/TotpPrompt";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { useCan } from "@/lib/auth";

export const Route = createFileRoute("/_auth/terminal")({
  component: HostTerminalPage,
});

/** Set in sessionStorage once the admin has confirmed a host shell in this browser session. */
const HOST_SHELL_CONFIRMED = "appos_host_shell_confirmed";

/** A login shell on the machine AppOS runs on (`WS /api/v1/terminal/ws?target=host`), admins only. */
function HostTerminalPage() {
  const isAdmin = useCan("admin");
  const [session, setSession] = useState(0);
  const [state, setState] = useState<TerminalState>({ phase: "closed" });
  const [totpCode, setTotpCode] = useState("");
  const [confirmed, setConfirmed] = useState(() => sessionStorage.getItem(HOST_SHELL_CONFIRMED) === "1");
  if (!isAdmin) return <ErrorAlert error={new Error("The host terminal needs the admin role.")} />;
  const live = session > 0 && state.phase !== "closed";

  return (
    <>
      <PageHeader
        title="Host terminal"
        description="A login shell on the machine AppOS runs on, as the user AppOS runs as. Sessions are recorded in the audit log (not what you type); leaving this page ends the session."
      />
      <div className="grid gap-3">
        <div className="flex flex-wrap items-center gap-3">
          {confirmed ? (
            <Button onClick={() => setSession((n) => n + 1)} disabled={state.phase === "connecting"}>
              <Plug />
              {session > 0 && !live ? "Reconnect" : live ? "New session" : "Connect"}
            </Button>
          ) : (
            <ConfirmDialog
              trigger={
                <Button>
                  <Plug />
                  Connect
                </Button>
              }
              title="Open a root shell on the server?"
              description="This is a root shell on the server AppOS runs on (as the user AppOS runs as, root in its image): a command typed here can change or delete anything, apps and AppOS included. You are asked once per browser session."
              confirmLabel="Open the shell"
              confirmVariant="destructive"
              onConfirm={() => {
                sessionStorage.setItem(HOST_SHELL_CONFIRMED, "1");
                setConfirmed(true);
                setSession((n) => n + 1);
              }}
            />
          )}
          {live && (
            <Button
              variant="outline"
              onClick={() => {
                setSession(0);
                setState({ phase: "closed", message: "Disconnected." });
              }}
            >
              <Unplug />
              Disconnect
            </Button>
          )}
          <span className="ml-auto text-xs text-muted-foreground" role="status">
            {state.phase === "connecting" ? <Spinner label="Connecting…" /> : state.phase === "open" ? "Connected to the host" : ""}
          </span>
        </div>
        {state.phase === "closed" && state.totpRequired ? (
          <TotpPrompt
            message={state.message}
            onCode={(code) => {
              setTotpCode(code);
              setSession((n) => n + 1);
            }}
          />
        ) : (
          state.phase === "closed" &&
          state.message && (
            <Alert variant={state.error ? "destructive" : "default"}>
              <span>{state.message}</span>
            </Alert>
          )
        )}
        {session > 0 ? (
          <TerminalView
            key={session}
            target="host"
            totpCode={totpCode}
            onState={(next) => {
              if (next.phase === "open") setTotpCode(""); // used: the next session needs a new one
              setState(next);
            }}
          />
        ) : (
          <div data-testid="terminal-placeholder" className="flex h-[26rem] max-h-[60vh] items-center justify-center rounded-lg bg-[#16171d] p-4 text-center text-sm text-white/60">
            Connect for a shell on the host.
          </div>
        )}
      </div>
    </>
  );
}
