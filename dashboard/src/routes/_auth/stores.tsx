import { createFileRoute } from "@tanstack/react-router";
import { StoresPage } from "@/components/StoresPage";

type StoresSearch = { store?: string };

/** App stores; `?store=<name>` opens that store's details (links from the catalog do). */
export const Route = createFileRoute("/_auth/stores")({
  validateSearch: (search: Record<string, unknown>): StoresSearch => ({
    store: typeof search.store === "string" && search.store ? search.store : undefined,
  }),
  component: function StoresRoute() {
    const { store } = Route.useSearch();
    const navigate = Route.useNavigate();
    return <StoresPage open={store} onOpen={(name) => navigate({ search: { store: name }, replace: true })} />;
  },
});
