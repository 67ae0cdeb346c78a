import { createFileRoute } from "@tanstack/react-router";
import { AppDeployments } from "@/components/AppDeployments";

export const Route = createFileRoute("/_auth/apps/$name/deployments/")({
  component: DeploymentsTab,
});

function DeploymentsTab() {
  const { name } = Route.useParams();
  return <AppDeployments name={name} />;
}
