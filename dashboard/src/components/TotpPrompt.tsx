import { ShieldCheck } from "lucide-react";
import { useState, type FormEvent } from "react";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { appCode } from "@/lib/twoFactor";

/**
 * Asks for a current code from the authenticator app (a terminal of a user with two-factor
 * authentication needs a fresh one each time); `message` is the server's word on why.
 */
export function TotpPrompt({ message, onCode }: { message?: string; onCode: (code: string) => void }) {
  const [value, setValue] = useState("");
  const [invalid, setInvalid] = useState(false);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const code = appCode(value);
    setInvalid(!code);
    if (code) onCode(code);
  };
  return (
    <Alert variant="info">
      <ShieldCheck className="mt-0.5" />
      <form onSubmit={submit} noValidate className="grid gap-2" aria-label="Code for the terminal">
        <p className="text-sm">{message || "Enter a current code from your authenticator app."}</p>
        <div className="flex flex-wrap items-end gap-2">
          <div className="grid gap-1">
            <Label htmlFor="totp-prompt">Two-factor code</Label>
            <Input
              id="totp-prompt"
              inputMode="numeric"
              autoComplete="one-time-code"
              className="w-36"
              value={value}
              onChange={(e) => setValue(e.target.value)}
              aria-invalid={invalid || undefined}
              autoFocus
            />
          </div>
          <Button type="submit">Connect</Button>
        </div>
        {invalid && <p className="text-xs text-destructive">Six digits, as the app shows them.</p>}
      </form>
    </Alert>
  );
}
