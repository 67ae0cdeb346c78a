import { createFileRoute } from "@tanstack/react-router";
import { TemplateDetail } from "@/components/TemplateDetail";

/** One of AppOS's own templates (`/catalog/<name>`); a store's are at `/catalog/<store>/<name>`. */
export const Route = createFileRoute("/_auth/catalog/$template")({
  component: function BuiltinTemplatePage() {
    const { template } = Route.useParams();
    return <TemplateDetail name={template} />;
  },
});
