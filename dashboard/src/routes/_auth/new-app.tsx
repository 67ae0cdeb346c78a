import { useQueryClient } from "@tanstack/react-query";
import { createFileRoute, Link, useNavigate } from "@tanstack/react-router";
import { ArrowLeft } from "lucide-react";
import { PageHeader } from "@/components/common";
import { ComposeAppForm, type CreatedApp } from "@/components/ComposeAppForm";
import { keepGenerated } from "@/lib/oneTime";

export const Route = createFileRoute("/_auth/new-app")({
  component: NewAppPage,
});

function NewAppPage() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const created = async ({ name, deploymentId, generated }: CreatedApp) => {
    keepGenerated(deploymentId, generated);
    queryClient.invalidateQueries({ queryKey: ["apps"] });
    await navigate({ to: "/apps/$name/deployments/$id", params: { name, id: deploymentId } });
  };
  return (
    <>
      <Link to="/apps" className="mb-4 inline-flex items-center gap-1 text-sm text-muted-foreground hover:text-foreground">
        <ArrowLeft className="size-4" /> Apps
      </Link>
      <PageHeader
        title="New app from compose"
        description={
          <>
            Bring your own compose file. For a ready-made app, use the <Link to="/catalog" className="text-primary underline">catalog</Link>.
          </>
        }
      />
      <ComposeAppForm onCreated={created} />
    </>
  );
}
