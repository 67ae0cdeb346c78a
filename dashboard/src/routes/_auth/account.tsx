import { createFileRoute } from "@tanstack/react-router";
import { KeyRound, Loader2 } from "lucide-react";
import { useState, type ChangeEvent, type FormEvent } from "react";
import { ErrorAlert, PageHeader, SuccessNote } from "@/components/common";
import { TwoFactorCard } from "@/components/TwoFactorCard";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { changePassword, PASSWORD_MIN, validatePasswordChange, type PasswordForm } from "@/lib/account";
import { useAuth } from "@/lib/auth";
import { formatTime } from "@/lib/format";

export const Route = createFileRoute("/_auth/account")({
  component: AccountPage,
});

const EMPTY: PasswordForm = { current: "", next: "", repeat: "" };

function AccountPage() {
  const { user } = useAuth();
  return (
    <>
      <PageHeader title="Account" description="Who you are signed in as, your password and two-factor authentication." />
      <div className="grid gap-6 lg:grid-cols-[1fr_1.4fr]">
        <Card>
          <CardHeader>
            <CardTitle>You</CardTitle>
          </CardHeader>
          <CardContent>
            <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
              <dt className="text-muted-foreground">Username</dt>
              <dd data-testid="account-username">{user.username}</dd>
              <dt className="text-muted-foreground">Role</dt>
              <dd>{user.role}</dd>
              <dt className="text-muted-foreground">Since</dt>
              <dd>{formatTime(user.created_at)}</dd>
            </dl>
          </CardContent>
        </Card>
        <ChangePassword username={user.username ?? ""} />
        <TwoFactorCard enabled={user.totp_enabled ?? false} />
      </div>
    </>
  );
}

function ChangePassword({ username }: { username: string }) {
  const [form, setForm] = useState<PasswordForm>(EMPTY);
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const errors = validatePasswordChange(form);
  const shown = tried ? errors : {};
  const field = (key: keyof PasswordForm) => ({
    value: form[key],
    onChange: (e: ChangeEvent<HTMLInputElement>) => {
      setDone(false);
      setForm({ ...form, [key]: e.target.value });
    },
    "aria-invalid": shown[key] ? true : undefined,
    "aria-describedby": shown[key] ? `pw-${key}-error` : undefined,
  });
  const message = (key: keyof PasswordForm) =>
    shown[key] ? (
      <p id={`pw-${key}-error`} className="text-xs text-destructive">
        {shown[key]}
      </p>
    ) : null;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTried(true);
    setError(null);
    setDone(false);
    if (Object.keys(errors).length) return;
    setBusy(true);
    try {
      await changePassword(username, form);
      setForm(EMPTY);
      setTried(false);
      setDone(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card>
      <CardHeader>
        <CardTitle>Change password</CardTitle>
        <CardDescription>Your other sessions end; API tokens keep working.</CardDescription>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} noValidate className="grid gap-4" aria-label="Change password">
          {/* for password managers: which account this is */}
          <input type="text" autoComplete="username" value={username} readOnly hidden />
          <div className="grid gap-1.5">
            <Label htmlFor="pw-current">Current password</Label>
            <Input id="pw-current" type="password" autoComplete="current-password" {...field("current")} />
            {message("current")}
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="pw-next">New password</Label>
            <Input id="pw-next" type="password" autoComplete="new-password" {...field("next")} />
            {message("next") ?? <p className="text-xs text-muted-foreground">At least {PASSWORD_MIN} characters.</p>}
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="pw-repeat">Repeat the new password</Label>
            <Input id="pw-repeat" type="password" autoComplete="new-password" {...field("repeat")} />
            {message("repeat")}
          </div>
          <ErrorAlert error={error} />
          <div className="flex flex-wrap items-center gap-3">
            <Button type="submit" disabled={busy}>
              {busy ? <Loader2 className="animate-spin" /> : <KeyRound />}
              {busy ? "Changing…" : "Change password"}
            </Button>
            {done && <SuccessNote>Password changed. You are still signed in.</SuccessNote>}
          </div>
        </form>
      </CardContent>
    </Card>
  );
}
