import { createFileRoute } from "@tanstack/react-router";
import { UpdatesList } from "@/components/UpdatesList";

export const Route = createFileRoute("/_auth/updates")({
  component: UpdatesList,
});
