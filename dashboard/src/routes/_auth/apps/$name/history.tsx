import { createFileRoute } from "@tanstack/react-router";
import { VersionHistory } from "@/components/VersionHistory";

export const Route = createFileRoute("/_auth/apps/$name/history")({
  component: HistoryTab,
});

function HistoryTab() {
  const { name } = Route.useParams();
  return <VersionHistory name={name} />;
}
