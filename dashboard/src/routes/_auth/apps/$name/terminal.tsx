import { useQuery } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { Plug, Unplug } from "lucide-react";
import { useState } from "react";
import { TerminalView, type TerminalState } from "@/components/TerminalView";
import { TotpPrompt } from "@/components/TotpPrompt";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { useCan } from "@/lib/auth";
import { appQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/apps/$name/terminal")({
  component: TerminalTab,
});

function TerminalTab() {
  const { name } = Route.useParams();
  const canUse = useCan("operator");
  const app = useQuery(appQuery(name)).data!;
  const services = [...new Set((app.services ?? []).filter((s) => s.state === "running").map((s) => s.service ?? ""))].filter(Boolean);
  const [service, setService] = useState("");
  const [session, setSession] = useState<{ target: string; n: number } | null>(null);
  const [state, setState] = useState<TerminalState>({ phase: "closed" });
  const [totpCode, setTotpCode] = useState("");
  const chosen = service || services[0] || "";

  if (!canUse) return <p className="text-sm text-muted-foreground">A shell in the app's containers needs the operator role.</p>;

  return (
    <div className="grid gap-3">
      <div className="flex flex-wrap items-end gap-3">
        <div className="grid gap-1.5">
          <Label htmlFor="terminal-service">Service</Label>
          <NativeSelect id="terminal-service" className="w-56" value={chosen} onChange={(e) => setService(e.target.value)} disabled={!services.length}>
            {services.length === 0 && <option value="">no running service</option>}
            {services.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </NativeSelect>
        </div>
        <Button onClick={() => setSession((s) => ({ target: `app:${name}/${chosen}`, n: (s?.n ?? 0) + 1 }))} disabled={!chosen}>
          <Plug />
          Connect
        </Button>
        {session && state.phase !== "closed" && (
          <Button variant="outline" onClick={() => { setSession(null); setState({ phase: "closed", message: "Disconnected." }); }}>
            <Unplug />
            Disconnect
          </Button>
        )}
        <span className="ml-auto text-xs text-muted-foreground" role="status">
          {state.phase === "connecting" ? "Connecting…" : state.phase === "open" ? `Connected to ${session?.target.slice(4)}` : ""}
        </span>
      </div>
      {state.phase === "closed" && state.totpRequired && session ? (
        <TotpPrompt
          message={state.message}
          onCode={(code) => {
            setTotpCode(code);
            setSession({ target: session.target, n: session.n + 1 });
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
      {session ? (
        <TerminalView
          key={`${session.target}#${session.n}`}
          target={session.target}
          totpCode={totpCode}
          onState={(next) => {
            if (next.phase === "open") setTotpCode(""); // used: the next session needs a new one
            setState(next);
          }}
        />
      ) : (
        <div data-testid="terminal-placeholder" className="flex h-[26rem] max-h-[60vh] items-center justify-center rounded-lg bg-[#16171d] text-sm text-white/60">
          Choose a service and Connect for a shell in its container.
        </div>
      )}
    </div>
  );
}
