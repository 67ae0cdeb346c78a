import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { UserPlus } from "lucide-react";
import { useState, type FormEvent } from "react";
import { api, unwrap } from "@/api/client";
import { ErrorAlert, PageHeader, Spinner } from "@/components/common";
import { ROLES, UserRow } from "@/components/UserRow";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Table, TBody, TH, THead, TR } from "@/components/ui/table";
import { useCan } from "@/lib/auth";

export const Route = createFileRoute("/_auth/users")({
  component: UsersPage,
});

function UsersPage() {
  const isAdmin = useCan("admin");
  const users = useQuery({ queryKey: ["users"], queryFn: () => unwrap(api.GET("/api/v1/users", { params: { query: { page_size: 500 } } })), enabled: isAdmin });
  if (!isAdmin) return <ErrorAlert error={new Error("Managing users needs the admin role.")} />;
  return (
    <>
      <PageHeader title="Users" description="Who may sign in, and what each may do: viewers read, operators also act on apps, admins also manage users." />
      <AddUser />
      <ErrorAlert error={users.error} className="mb-4" />
      {users.isPending ? (
        <Spinner />
      ) : (
        <div className="rounded-xl border bg-card shadow-xs">
          <Table>
            <THead>
              <TR>
                <TH>User</TH>
                <TH>Role</TH>
                <TH className="hidden sm:table-cell">Created</TH>
                <TH className="text-right">Actions</TH>
              </TR>
            </THead>
            <TBody>
              {(users.data?.users ?? []).map((u) => (
                <UserRow key={u.username} user={u} />
              ))}
            </TBody>
          </Table>
        </div>
      )}
    </>
  );
}

function AddUser() {
  const queryClient = useQueryClient();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState("viewer");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await unwrap(api.POST("/api/v1/users", { body: { username, password, role } }));
      setUsername("");
      setPassword("");
      queryClient.invalidateQueries({ queryKey: ["users"] });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card className="mb-6">
      <CardHeader>
        <CardTitle>Add a user</CardTitle>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} className="grid gap-4 sm:grid-cols-[1fr_1fr_10rem_auto] sm:items-end">
          <div className="grid gap-1.5">
            <Label htmlFor="new-username">New username</Label>
            <Input id="new-username" autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value)} required />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="new-password">New password</Label>
            <Input id="new-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="new-role">Role</Label>
            <NativeSelect id="new-role" value={role} onChange={(e) => setRole(e.target.value)}>
              {ROLES.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </NativeSelect>
          </div>
          <Button type="submit" disabled={busy}>
            <UserPlus />
            {busy ? "Adding…" : "Add user"}
          </Button>
          <div className="sm:col-span-4">
            <ErrorAlert error={error} />
          </div>
        </form>
      </CardContent>
    </Card>
  );
}
