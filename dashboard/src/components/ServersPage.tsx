import { useQuery } from "@tanstack/react-query";
import { AddServer } from "@/components/AddServer";
import { ErrorAlert, PageHeader, Spinner } from "@/components/common";
import { CopyButton } from "@/components/CopyButton";
import { ServersList } from "@/components/ServersList";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { useCan } from "@/lib/auth";
import { serverKeyQuery } from "@/lib/servers";

/** AppOS's public SSH key, to put on each server before adding it (admins). */
function ServerKeyCard() {
  const key = useQuery(serverKeyQuery);
  const line = key.data?.public_key ?? "";
  return (
    <Card className="mb-6">
      <CardHeader>
        <CardTitle>AppOS's SSH key</CardTitle>
        <CardDescription>
          AppOS signs in to every server with this key and no other. On the server, add this line to <span className="font-mono">~/.ssh/authorized_keys</span> of the
          user in the server's address; that user must be allowed to use Docker (for instance, be in the <span className="font-mono">docker</span> group).
        </CardDescription>
      </CardHeader>
      <CardContent className="grid gap-2">
        {key.isPending ? (
          <Spinner />
        ) : key.isError ? (
          <ErrorAlert error={key.error} title="AppOS's key could not be read." />
        ) : (
          <>
            <div className="flex flex-col gap-2 sm:flex-row sm:items-start">
              <pre className="min-w-0 flex-1 rounded-md border bg-muted/40 px-3 py-2 font-mono text-xs break-all whitespace-pre-wrap" data-testid="server-public-key">
                {line}
              </pre>
              <CopyButton text={line} what="AppOS's public key" />
            </div>
            <p className="text-xs text-muted-foreground">
              Fingerprint <span className="font-mono break-all" data-testid="server-key-fingerprint">{key.data?.fingerprint}</span>
            </p>
          </>
        )}
      </CardContent>
    </Card>
  );
}

/** Servers: the machines AppOS deploys to, this one (`local`) and the Docker engines it reaches over
 * SSH. Everyone sees them and their state; admins see AppOS's key and add, re-pin and remove. */
export function ServersPage() {
  const isAdmin = useCan("admin");
  return (
    <>
      <PageHeader
        title="Servers"
        description="This machine and the Docker engines AppOS reaches over SSH or Docker's TLS port, with no agent installed on them. Their state is read every 10 seconds."
      />
      {isAdmin && <ServerKeyCard />}
      {isAdmin && <AddServer />}
      <ServersList />
    </>
  );
}
