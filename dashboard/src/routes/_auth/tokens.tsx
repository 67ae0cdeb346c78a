import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { KeyRound, Plus } from "lucide-react";
import { useState, type FormEvent } from "react";
import { api, unwrap } from "@/api/client";
import { CopyButton } from "@/components/CopyButton";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState, ErrorAlert, PageHeader, Spinner } from "@/components/common";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { roleAllows, useAuth, useCan, type Role } from "@/lib/auth";
import { formatTime, timeAgo } from "@/lib/format";

export const Route = createFileRoute("/_auth/tokens")({
  component: TokensPage,
});

function TokensPage() {
  const isAdmin = useCan("admin");
  const canCreate = useCan("operator");
  const queryClient = useQueryClient();
  const [allUsers, setAllUsers] = useState(false);
  const tokens = useQuery({
    queryKey: ["tokens", allUsers],
    queryFn: () => unwrap(api.GET("/api/v1/tokens", { params: { query: { all_users: allUsers || undefined } } })),
  });
  const revoke = async (id: string) => {
    await unwrap(api.DELETE("/api/v1/tokens/{id}", { params: { path: { id } } }));
    queryClient.invalidateQueries({ queryKey: ["tokens"] });
  };
  const list = tokens.data?.tokens ?? [];
  return (
    <>
      <PageHeader
        title="API tokens"
        description={<>For scripts and the CLI: <code className="rounded bg-muted px-1">Authorization: Bearer appos_…</code>. A token's role is never above its owner's.</>}
        actions={
          isAdmin && (
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" className="size-4" checked={allUsers} onChange={(e) => setAllUsers(e.target.checked)} />
              Every user's tokens
            </label>
          )
        }
      />
      {canCreate && <CreateToken />}
      <ErrorAlert error={tokens.error} className="mb-4" />
      {tokens.isPending ? (
        <Spinner />
      ) : list.length === 0 ? (
        <EmptyState>No tokens.</EmptyState>
      ) : (
        <div className="rounded-xl border bg-card shadow-xs">
          <Table>
            <THead>
              <TR>
                <TH>Name</TH>
                <TH>Role</TH>
                <TH className="hidden md:table-cell">Owner</TH>
                <TH className="hidden sm:table-cell">Expires</TH>
                <TH className="hidden lg:table-cell">Last used</TH>
                {canCreate && <TH className="text-right">Actions</TH>}
              </TR>
            </THead>
            <TBody>
              {list.map((t) => (
                <TR key={t.id}>
                  <TD>
                    <span className="font-medium">{t.name}</span> <span className="font-mono text-xs text-muted-foreground">{t.prefix}…</span>
                    {t.revoked_at && <Badge variant="muted" className="ml-2">revoked</Badge>}
                  </TD>
                  <TD>{t.role}</TD>
                  <TD className="hidden md:table-cell">{t.username}</TD>
                  <TD className="hidden text-sm sm:table-cell">{t.expires_at ? formatTime(t.expires_at) : "never"}</TD>
                  <TD className="hidden text-sm text-muted-foreground lg:table-cell">{t.last_used_at ? timeAgo(t.last_used_at) : "never"}</TD>
                  {canCreate && (
                    <TD className="text-right">
                      {!t.revoked_at && (
                        <ConfirmDialog
                          trigger={
                            <Button variant="outline" size="sm">
                              Revoke
                            </Button>
                          }
                          title={`Revoke ${t.name}?`}
                          description="Anything using it is refused from now on."
                          confirmVariant="destructive"
                          onConfirm={() => revoke(t.id ?? "")}
                        />
                      )}
                    </TD>
                  )}
                </TR>
              ))}
            </TBody>
          </Table>
        </div>
      )}
    </>
  );
}

function CreateToken() {
  const me = useAuth().user;
  const queryClient = useQueryClient();
  const roles = (["viewer", "operator", "admin"] as Role[]).filter((r) => roleAllows(me.role, r));
  const [name, setName] = useState("");
  const [role, setRole] = useState<string>("viewer");
  const [days, setDays] = useState("90");
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setSecret(null);
    try {
      // a token is never asked for a code later, so a session of a 2FA account sends one to create it
      const totp_code = me.totp_enabled ? code.replace(/\s+/g, "") : undefined;
      const reply = await unwrap(api.POST("/api/v1/tokens", { body: { name, role, expires_in_days: Number(days) || 0, totp_code } }));
      setSecret(reply.secret ?? "");
      setName("");
      setCode("");
      queryClient.invalidateQueries({ queryKey: ["tokens"] });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card className="mb-6">
      <CardHeader>
        <CardTitle>Create a token</CardTitle>
        <CardDescription>The secret is shown once.</CardDescription>
      </CardHeader>
      <CardContent className="grid gap-4">
        <form
          onSubmit={submit}
          className={`grid gap-4 sm:items-end ${me.totp_enabled ? "sm:grid-cols-[1fr_9rem_9rem_9rem_auto]" : "sm:grid-cols-[1fr_10rem_10rem_auto]"}`}
        >
          <div className="grid gap-1.5">
            <Label htmlFor="token-name">Token name</Label>
            <Input id="token-name" placeholder="ci" value={name} onChange={(e) => setName(e.target.value)} required />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="token-role">Role</Label>
            <NativeSelect id="token-role" value={role} onChange={(e) => setRole(e.target.value)}>
              {roles.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </NativeSelect>
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="token-days">Expires in (days)</Label>
            <Input id="token-days" type="number" min={0} value={days} onChange={(e) => setDays(e.target.value)} />
          </div>
          {me.totp_enabled && (
            <div className="grid gap-1.5">
              <Label htmlFor="token-code">Two-factor code</Label>
              <Input
                id="token-code"
                inputMode="numeric"
                autoComplete="one-time-code"
                placeholder="123456"
                value={code}
                onChange={(e) => setCode(e.target.value)}
                required
              />
            </div>
          )}
          <Button type="submit" disabled={busy}>
            <Plus />
            {busy ? "Creating…" : "Create token"}
          </Button>
        </form>
        <ErrorAlert error={error} />
        {secret && (
          <Alert variant="success">
            <KeyRound className="mt-0.5" />
            <div className="min-w-0">
              <p className="font-medium">Copy the secret now; it is not shown again.</p>
              <div className="mt-1 flex items-center gap-2">
                <code data-testid="token-secret" className="block min-w-0 flex-1 break-all select-all rounded bg-card px-2 py-1 font-mono text-xs text-foreground">
                  {secret}
                </code>
                <CopyButton text={secret} what="token" />
              </div>
            </div>
          </Alert>
        )}
      </CardContent>
    </Card>
  );
}
