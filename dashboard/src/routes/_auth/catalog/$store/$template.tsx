import { createFileRoute } from "@tanstack/react-router";
import { TemplateDetail } from "@/components/TemplateDetail";

/** A store's template, `<store>/<name>`: two path segments, so the name needs no encoding and a
 * reload or a shared link opens it as it is. */
export const Route = createFileRoute("/_auth/catalog/$store/$template")({
  component: function StoreTemplatePage() {
    const { store, template } = Route.useParams();
    return <TemplateDetail name={`${store}/${template}`} />;
  },
});
