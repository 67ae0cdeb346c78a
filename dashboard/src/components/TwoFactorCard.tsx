import { useQueryClient } from "@tanstack/react-query";
import { Check, Copy, Loader2, ShieldCheck, ShieldOff } from "lucide-react";
import { useState, type FormEvent } from "react";
import { ErrorAlert, SuccessNote } from "@/components/common";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { appCode, beginSetup, confirmSetup, disableTotp, type TotpSetup } from "@/lib/twoFactor";

type Step = { kind: "idle" } | { kind: "setup"; setup: TotpSetup } | { kind: "codes"; codes: string[] };

/**
 * The account page's "Two-factor authentication" card: set up (a QR code and the secret, then a
 * code from the app), the recovery codes shown once with a copy button, and turning it off (with
 * the password or a current code).
 */
export function TwoFactorCard({ enabled }: { enabled: boolean }) {
  const queryClient = useQueryClient();
  const [step, setStep] = useState<Step>({ kind: "idle" });
  const [input, setInput] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    setDone("");
    try {
      await action();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const refreshMe = () => queryClient.invalidateQueries({ queryKey: ["me"] });

  const begin = () =>
    run(async () => {
      setStep({ kind: "setup", setup: await beginSetup() });
      setInput("");
    });
  const confirm = (event: FormEvent) => {
    event.preventDefault();
    const code = appCode(input);
    if (!code) {
      setError(new Error("Enter the 6-digit code the app shows."));
      return;
    }
    void run(async () => {
      const codes = await confirmSetup(code);
      setStep({ kind: "codes", codes });
      setInput("");
      await refreshMe();
    });
  };
  const disable = (event: FormEvent) => {
    event.preventDefault();
    if (!input.trim()) {
      setError(new Error("Enter your password or a current code."));
      return;
    }
    void run(async () => {
      await disableTotp(input.trim());
      setInput("");
      setDone("Two-factor authentication is off.");
      await refreshMe();
    });
  };

  return (
    <Card data-testid="two-factor">
      <CardHeader>
        <CardTitle className="flex items-center gap-2">
          Two-factor authentication
          <Badge variant={enabled ? "success" : "muted"} data-testid="two-factor-status">
            {enabled ? "on" : "off"}
          </Badge>
        </CardTitle>
        <CardDescription>
          A code from an authenticator app at each sign-in and for each terminal, besides the password. API tokens are not asked for one.
        </CardDescription>
      </CardHeader>
      <CardContent className="grid gap-4">
        {step.kind === "codes" ? (
          <RecoveryCodes codes={step.codes} onDone={() => setStep({ kind: "idle" })} />
        ) : enabled ? (
          <form onSubmit={disable} noValidate className="grid gap-3" aria-label="Turn off two-factor authentication">
            <div className="grid gap-1.5">
              <Label htmlFor="tfa-off">Password or current code</Label>
              <Input id="tfa-off" type="password" autoComplete="current-password" value={input} onChange={(e) => setInput(e.target.value)} />
            </div>
            <ErrorAlert error={error} />
            <div>
              <Button type="submit" variant="outline" disabled={busy}>
                {busy ? <Loader2 className="animate-spin" /> : <ShieldOff />}
                Turn off
              </Button>
            </div>
          </form>
        ) : step.kind === "setup" ? (
          <form onSubmit={confirm} noValidate className="grid gap-3" aria-label="Confirm two-factor authentication">
            <p className="text-sm">Scan the QR code with an authenticator app (or type the secret into it), then enter the code it shows.</p>
            {/* the server's own SVG (segno): a QR code, no script */}
            <div
              data-testid="totp-qr"
              role="img"
              aria-label="QR code of the two-factor secret"
              className="w-fit rounded-md bg-white p-2 [&_svg]:size-44"
              dangerouslySetInnerHTML={{ __html: step.setup.qr_svg ?? "" }}
            />
            <div className="grid gap-1">
              <span className="text-xs text-muted-foreground">Secret</span>
              <code data-testid="totp-secret" className="block break-all select-all rounded bg-muted px-2 py-1 font-mono text-xs">
                {step.setup.secret}
              </code>
            </div>
            <div className="grid gap-1.5">
              <Label htmlFor="tfa-code">Code from the app</Label>
              <Input id="tfa-code" inputMode="numeric" autoComplete="one-time-code" className="w-40" value={input} onChange={(e) => setInput(e.target.value)} />
            </div>
            <ErrorAlert error={error} />
            <div className="flex flex-wrap gap-2">
              <Button type="submit" disabled={busy}>
                {busy ? <Loader2 className="animate-spin" /> : <ShieldCheck />}
                Turn on
              </Button>
              <Button type="button" variant="outline" onClick={() => setStep({ kind: "idle" })}>
                Cancel
              </Button>
            </div>
          </form>
        ) : (
          <div className="grid gap-3">
            <ErrorAlert error={error} />
            <div className="flex flex-wrap items-center gap-3">
              <Button onClick={begin} disabled={busy}>
                {busy ? <Loader2 className="animate-spin" /> : <ShieldCheck />}
                Set up
              </Button>
            </div>
          </div>
        )}
        {done && <SuccessNote>{done}</SuccessNote>}
      </CardContent>
    </Card>
  );
}

function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    await navigator.clipboard.writeText(codes.join("\n") + "\n");
    setCopied(true);
  };
  return (
    <Alert variant="success">
      <ShieldCheck className="mt-0.5" />
      <div className="grid min-w-0 gap-2">
        <p className="font-medium">Two-factor authentication is on. Save these recovery codes now; they are not shown again.</p>
        <p className="text-xs">Each one signs you in once instead of a code, if the phone is lost.</p>
        <ul data-testid="recovery-codes" className="grid grid-cols-2 gap-x-6 gap-y-1 rounded bg-card px-3 py-2 font-mono text-sm text-foreground select-all">
          {codes.map((code) => (
            <li key={code}>{code}</li>
          ))}
        </ul>
        <div className="flex flex-wrap gap-2">
          <Button type="button" variant="outline" size="sm" onClick={() => void copy()}>
            {copied ? <Check /> : <Copy />}
            {copied ? "Copied" : "Copy codes"}
          </Button>
          <Button type="button" size="sm" onClick={onDone}>
            I have saved them
          </Button>
        </div>
      </div>
    </Alert>
  );
}
