import { useQuery, useQueryClient } from "@tanstack/react-query";
import { AlertTriangle, KeyRound, Trash2 } from "lucide-react";
import { useState, type ReactNode } from "react";
import { api, unwrap } from "@/api/client";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { ErrorAlert, Spinner, StatusBadge, SuccessNote } from "@/components/common";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { useCan } from "@/lib/auth";
import { formatTime, timeAgo } from "@/lib/format";
import { capacityWords, engineWords, identityWords, LOCAL, serverProblem, serversQuery, statusWords, type Server } from "@/lib/servers";
import { cn } from "@/lib/utils";

/** Every server, `local` first, each with its status (and why it is not up), engine, CPUs and
 * memory, apps and pinned host key (or, over TLS, engine certificate); admins get Re-pin and Remove for the remote ones. The list is
 * read every 10 s (serversQuery) and at once on the server_* events. */
export function ServersList() {
  const isAdmin = useCan("admin");
  const servers = useQuery(serversQuery);
  const list = servers.data?.servers ?? [];
  if (servers.isPending) return <Spinner />;
  if (servers.isError) return <ErrorAlert error={servers.error} title="The servers could not be read. Reload the page; if it persists, see System." />;
  return (
    <ul className="grid gap-4" aria-label="Servers">
      {list.map((server) => (
        <ServerCard key={server.name} server={server} isAdmin={isAdmin} />
      ))}
    </ul>
  );
}

function Fact({ label, children, testId, className }: { label: string; children: ReactNode; testId?: string; className?: string }) {
  return (
    <div className="flex min-w-0 gap-1">
      <dt className="shrink-0 text-muted-foreground">{label}</dt>
      <dd className={cn("min-w-0 font-medium", className)} data-testid={testId}>
        {children}
      </dd>
    </div>
  );
}

function ServerCard({ server, isAdmin }: { server: Server; isAdmin: boolean }) {
  const queryClient = useQueryClient();
  const [pinned, setPinned] = useState<string | null>(null);
  const name = server.name ?? "";
  const local = name === LOCAL;
  const problem = serverProblem(server.error);
  const apps = server.apps ?? 0;
  const tls = server.transport === "tls";
  const identity = identityWords(server);

  const repin = async () => {
    const after = await unwrap(api.POST("/api/v1/servers/{name}/repin", { params: { path: { name } }, body: {} }));
    setPinned(after.host_key_fingerprint ?? "");
    await queryClient.invalidateQueries({ queryKey: ["servers"] });
  };
  const remove = async () => {
    await unwrap(api.DELETE("/api/v1/servers/{name}", { params: { path: { name } } }));
    await queryClient.invalidateQueries({ queryKey: ["servers"] });
  };

  return (
    <li className="rounded-xl border bg-card shadow-xs" data-testid={`server-${name}`}>
      <div className="flex flex-col gap-3 p-4 md:flex-row md:items-start md:justify-between">
        <div className="min-w-0">
          <div className="flex flex-wrap items-center gap-2">
            <h2 className="font-semibold">{name}</h2>
            <StatusBadge status={server.status} label={statusWords(server.status)} testId="server-status" />
          </div>
          {!local && (
            <div className="mt-1 truncate font-mono text-xs text-muted-foreground" title={server.address}>
              {server.address}
              {server.docker_socket && <span> · {server.docker_socket}</span>}
            </div>
          )}
          <dl className="mt-2 flex flex-wrap gap-x-5 gap-y-1 text-sm">
            <Fact label="Engine" testId="server-engine">
              {engineWords(server)}
            </Fact>
            <Fact label="Capacity" testId="server-capacity">
              {capacityWords(server)}
            </Fact>
            <Fact label="Apps" testId="server-apps">
              {apps}
            </Fact>
            {!local && (
              <Fact label="Last seen">
                <span title={formatTime(server.last_seen)}>{timeAgo(server.last_seen)}</span>
              </Fact>
            )}
          </dl>
          {!local && (
            <dl className="mt-1 text-sm">
              <Fact label={tls ? "Certificate" : "Host key"} testId="server-fingerprint" className="font-mono text-xs break-all">
                {server.host_key_fingerprint || "—"}
              </Fact>
            </dl>
          )}
        </div>
        {isAdmin && !local && (
          <div className="flex shrink-0 flex-wrap items-center gap-2">
            <ConfirmDialog
              trigger={
                <Button variant={problem?.hostKey ? "default" : "outline"} size="sm" aria-label={`Re-pin ${name}`}>
                  <KeyRound />
                  Re-pin
                </Button>
              }
              title={`Trust the ${identity} ${name} shows now?`}
              description={
                tls
                  ? "AppOS pinned the Docker engine's TLS certificate when the server was added and refuses a different one, because a changed certificate can mean that someone is between AppOS and the engine. Re-pin only after checking that the engine's certificate was renewed on purpose and that its SHA-256 fingerprint (openssl x509 -noout -fingerprint -sha256 -in its --tlscert on the server) is the one AppOS will now see."
                  : "AppOS pinned this server's SSH host key when it was added and refuses a different one, because a changed key can mean that someone is between AppOS and the server. Re-pin only after checking that the server was reinstalled or its host keys were made again on purpose, and that the new key's fingerprint (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the server) is the one AppOS will now see."
              }
              confirmLabel={tls ? "Trust the new certificate" : "Trust the new key"}
              confirmVariant="destructive"
              onConfirm={repin}
            >
              <p className="text-sm">
                Pinned now: <span className="font-mono text-xs break-all">{server.host_key_fingerprint || "—"}</span>
              </p>
            </ConfirmDialog>
            <ConfirmDialog
              trigger={
                <Button variant="outline" size="sm" aria-label={`Remove ${name}`}>
                  <Trash2 />
                  Remove
                </Button>
              }
              title={`Remove the server ${name}?`}
              description={
                apps
                  ? `${apps} ${apps === 1 ? "app lives" : "apps live"} on ${name}: AppOS refuses to forget it until they are removed or moved.`
                  : tls
                    ? `AppOS stops connecting to the engine and forgets the server, its pinned certificate and the client certificate and key it was given. Nothing on the server is changed.`
                    : `AppOS closes its SSH connection and forgets the server and its pinned host key. Nothing on the server is changed; take AppOS's key out of its authorized_keys yourself if you wish.`
              }
              confirmLabel="Remove server"
              confirmVariant="destructive"
              onConfirm={remove}
            />
          </div>
        )}
      </div>
      {(problem || pinned) && (
        <div className="grid gap-2 px-4 pb-4">
          {problem && (
            <Alert variant={server.status === "down" ? "destructive" : "default"} role="status" data-testid="server-problem" className={server.status === "down" ? undefined : "border-warning/50 bg-warning/10"}>
              <AlertTriangle className="mt-0.5" />
              <div className="min-w-0">
                <p className="font-medium break-words">{problem.summary}</p>
                <p className="mt-1 text-xs text-foreground/80">{problem.next}</p>
              </div>
            </Alert>
          )}
          {pinned !== null && (
            <SuccessNote>
              {tls ? "Certificate" : "Host key"} {pinned} pinned; AppOS connects with it now.
            </SuccessNote>
          )}
        </div>
      )}
    </li>
  );
}
