import { createFileRoute } from "@tanstack/react-router";
import { ServersPage } from "@/components/ServersPage";

/** The machines AppOS deploys to: this one and the Docker engines it reaches over SSH or TLS (issue 21). */
export const Route = createFileRoute("/_auth/servers")({
  component: ServersPage,
});
