/** A row of the users page: role and disabling behind a confirmation; none of the changes that
 *  are sure to fail on the admin's own row (demoting, disabling or deleting themselves). */
import { useQueryClient } from "@tanstack/react-query";
import { Trash2 } from "lucide-react";
import { useState } from "react";
import { api, unwrap, type User } from "@/api/client";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { NativeSelect } from "@/components/ui/input";
import { TD, TR } from "@/components/ui/table";
import { useAuth } from "@/lib/auth";
import { formatTime } from "@/lib/format";

export const ROLES = ["viewer", "operator", "admin"];

export function UserRow({ user }: { user: User }) {
  const me = useAuth().user;
  const queryClient = useQueryClient();
  const [newRole, setNewRole] = useState<string | null>(null);
  const username = user.username ?? "";
  // An admin cannot demote, disable or delete themselves (the server refuses: the last admin
  // would lock everyone out), so those controls are not offered on their own row.
  const self = username === me.username;
  const update = async (body: { role?: string; disabled?: boolean; password?: string }) => {
    await unwrap(api.PATCH("/api/v1/users/{username}", { params: { path: { username } }, body }));
    queryClient.invalidateQueries({ queryKey: ["users"] });
  };
  const remove = async () => {
    await unwrap(api.DELETE("/api/v1/users/{username}", { params: { path: { username } } }));
    queryClient.invalidateQueries({ queryKey: ["users"] });
  };
  return (
    <TR>
      <TD>
        <span className="font-medium">{username}</span>
        {self && <Badge className="ml-2">you</Badge>}
        {user.disabled && <Badge variant="muted" className="ml-2">disabled</Badge>}
      </TD>
      <TD>
        {self ? (
          <span className="text-sm" title="You cannot change your own role">
            {user.role}
          </span>
        ) : (
          <NativeSelect aria-label={`Role of ${username}`} className="w-32" value={user.role} onChange={(e) => setNewRole(e.target.value)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </NativeSelect>
        )}
        <ConfirmDialog
          open={newRole !== null}
          onOpenChange={(open) => !open && setNewRole(null)}
          title={`Make ${username} ${article(newRole ?? "")} ${newRole}?`}
          description={ROLE_MEANING[newRole ?? ""] ?? ""}
          confirmLabel="Change role"
          onConfirm={() => update({ role: newRole ?? undefined })}
        />
      </TD>
      <TD className="hidden text-sm text-muted-foreground sm:table-cell">{formatTime(user.created_at)}</TD>
      <TD>
        {!self && (
          <div className="flex justify-end gap-2">
            <ConfirmDialog
              trigger={
                <Button variant="outline" size="sm">
                  {user.disabled ? "Enable" : "Disable"}
                </Button>
              }
              title={user.disabled ? `Enable ${username}?` : `Disable ${username}?`}
              description={user.disabled ? "They can sign in again, and their API tokens work again." : "They are signed out at once and cannot sign in; their API tokens stop working until you enable them."}
              confirmLabel={user.disabled ? "Enable" : "Disable"}
              confirmVariant={user.disabled ? "default" : "destructive"}
              onConfirm={() => update({ disabled: !user.disabled })}
            />
            <ConfirmDialog
              trigger={
                <Button variant="outline" size="sm" aria-label={`Delete ${username}`}>
                  <Trash2 />
                </Button>
              }
              title={`Delete ${username}?`}
              description="Their API tokens stop working at once."
              confirmVariant="destructive"
              onConfirm={remove}
            />
          </div>
        )}
      </TD>
    </TR>
  );
}

const ROLE_MEANING: Record<string, string> = {
  viewer: "A viewer reads everything but changes nothing.",
  operator: "An operator also deploys, starts, stops and edits apps.",
  admin: "An admin also manages users, backups, notifications and the host shell.",
};

function article(word: string): string {
  return /^[aeiou]/.test(word) ? "an" : "a";
}
