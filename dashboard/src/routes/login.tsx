import { createFileRoute, redirect, useNavigate } from "@tanstack/react-router";
import { Boxes, Info } from "lucide-react";
import { useState, type FormEvent } from "react";
import { api, unwrap } from "@/api/client";
import { getToken, peekLoginNotice, setToken, takeLoginNotice } from "@/api/session";
import { ErrorAlert } from "@/components/common";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Card, CardContent } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { safeRedirect } from "@/lib/redirect";
import { needsCode, secondFactor } from "@/lib/twoFactor";

export const Route = createFileRoute("/login")({
  validateSearch: (search: Record<string, unknown>): { redirect?: string } =>
    typeof search.redirect === "string" ? { redirect: search.redirect } : {},
  beforeLoad: ({ search }) => {
    if (getToken()) throw redirect({ to: safeRedirect(search.redirect) });
  },
  component: LoginPage,
});

function LoginPage() {
  const search = Route.useSearch();
  const navigate = useNavigate();
  const [notice] = useState(() => peekLoginNotice());
  const [username, setUsername] = useState("admin");
  const [password, setPassword] = useState("");
  // shown once the server says this account has two-factor authentication
  const [askCode, setAskCode] = useState(false);
  const [code, setCode] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { username, password, ...(askCode && code.trim() ? secondFactor(code) : {}) };
      const reply = await unwrap(api.POST("/api/v1/auth/login", { body }));
      takeLoginNotice();
      setToken(reply.access_token ?? "", reply.expires_in ?? 0);
      await navigate({ to: safeRedirect(search.redirect) });
    } catch (err) {
      if (needsCode(err)) {
        setAskCode(true);
        setCode("");
      }
      // asking for the code the first time is not an error to show
      setError(needsCode(err) && !askCode ? null : err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="flex min-h-screen items-center justify-center bg-[radial-gradient(ellipse_at_top,oklch(0.93_0.05_277),transparent_60%)] p-4">
      <div className="w-full max-w-sm">
        <div className="mb-6 flex items-center justify-center gap-2 text-xl font-semibold">
          <span className="flex size-9 items-center justify-center rounded-lg bg-primary text-primary-foreground">
            <Boxes className="size-5" />
          </span>
          AppOS
        </div>
        <Card>
          <CardContent>
            <h1 className="mb-1 text-lg font-semibold">Sign in</h1>
            <p className="mb-5 text-sm text-muted-foreground">to deploy and run your apps.</p>
            {notice && (
              <Alert variant="info" className="mb-4">
                <Info className="mt-0.5" />
                <span>{notice}</span>
              </Alert>
            )}
            <form onSubmit={submit} className="grid gap-4">
              <div className="grid gap-2">
                <Label htmlFor="username">Username</Label>
                <Input id="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
              </div>
              <div className="grid gap-2">
                <Label htmlFor="password">Password</Label>
                <Input id="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required autoFocus />
              </div>
              {askCode && (
                <div className="grid gap-2">
                  <Label htmlFor="totp-code">Two-factor code</Label>
                  <Input id="totp-code" inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} required autoFocus />
                  <p className="text-xs text-muted-foreground">From your authenticator app, or one of your recovery codes.</p>
                </div>
              )}
              <ErrorAlert error={error} />
              <Button type="submit" disabled={busy} className="w-full">
                {busy ? "Signing in…" : "Sign in"}
              </Button>
            </form>
          </CardContent>
        </Card>
        <p className="mt-4 text-center text-xs leading-5 text-muted-foreground">
          First start? <code className="rounded bg-muted px-1">make run</code> printed the admin password; it is also stored in{" "}
          <code className="rounded bg-muted px-1">$APPOS_DATA/admin-password</code> (unless <code className="rounded bg-muted px-1">APPOS_ADMIN_PASSWORD</code> set it).
        </p>
      </div>
    </main>
  );
}
