import { useQuery } from "@tanstack/react-query";
import { LOCAL, serverHost, serversQuery } from "@/lib/servers";

/** The host an app's published ports answer at: this page's host for an app on `local`, else the host
 *  of its server's ssh:// or tcp:// address (null while the servers list loads, or for a server it lacks). */
export function useServerHost(server: string | undefined): string | null {
  const remote = Boolean(server) && server !== LOCAL;
  const servers = useQuery({ ...serversQuery, enabled: remote });
  return serverHost(server, servers.data?.servers, window.location.hostname);
}
