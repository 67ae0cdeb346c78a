import { useQuery } from "@tanstack/react-query";
import { createFileRoute, Link } from "@tanstack/react-router";
import { Search } from "lucide-react";
import { useDeferredValue } from "react";
import { api, unwrap } from "@/api/client";
import { EmptyState, ErrorAlert, PageHeader, Spinner } from "@/components/common";
import { Badge } from "@/components/ui/badge";
import { Input } from "@/components/ui/input";
import { TemplateLink } from "@/components/TemplateLink";
import { TemplateLogo } from "@/components/TemplateLogo";
import { categoryName } from "@/lib/catalog";
import { BUILTIN, communityLabel, isCommunity, storeChoices, storesQuery } from "@/lib/stores";
import { cn } from "@/lib/utils";

type CatalogSearch = { q?: string; category?: string; store?: string };

export const Route = createFileRoute("/_auth/catalog/")({
  validateSearch: (search: Record<string, unknown>): CatalogSearch => ({
    q: typeof search.q === "string" && search.q ? search.q : undefined,
    category: typeof search.category === "string" && search.category ? search.category : undefined,
    store: typeof search.store === "string" && search.store ? search.store : undefined,
  }),
  component: CatalogPage,
});

function CatalogPage() {
  const { q = "", category = "", store = "" } = Route.useSearch();
  const navigate = Route.useNavigate();
  const search = useDeferredValue(q);
  const all = useQuery({ queryKey: ["catalog", "", "", ""], queryFn: () => unwrap(api.GET("/api/v1/catalog", { params: { query: {} } })), staleTime: 60_000 });
  const stores = useQuery(storesQuery);
  const list = useQuery({
    queryKey: ["catalog", search, category, store],
    queryFn: () =>
      unwrap(api.GET("/api/v1/catalog", { params: { query: { search: search || undefined, category: category || undefined, store: store || undefined } } })),
    placeholderData: (previous) => previous,
    staleTime: 60_000,
  });
  const categories = all.data?.categories ?? [];
  const templates = list.data?.templates ?? [];
  const storeNames = (stores.data?.stores ?? []).map((s) => s.name ?? "").filter(Boolean);
  const sources = storeChoices(storeNames, store);

  return (
    <>
      <PageHeader
        title="Catalog"
        description="Open-source apps, ready to deploy. Pick one, fill in its settings, and AppOS runs it with Docker Compose."
        actions={
          <Link to="/stores" className="text-sm text-primary hover:underline">
            {storeNames.length ? `App stores (${storeNames.length})` : "Add apps from app stores"}
          </Link>
        }
      />
      <div className="mb-4 flex flex-col gap-3">
        <div className="relative max-w-md">
          <Search className="pointer-events-none absolute top-2.5 left-3 size-4 text-muted-foreground" />
          <Input
            aria-label="Search templates"
            placeholder="Search templates"
            className="pl-9"
            value={q}
            onChange={(e) => navigate({ search: (prev) => ({ ...prev, q: e.target.value || undefined }), replace: true })}
          />
        </div>
        <div className="flex flex-wrap gap-2" role="group" aria-label="Categories">
          {["", ...categories].map((c) => (
            <button
              key={c || "all"}
              type="button"
              aria-pressed={category === c}
              onClick={() => navigate({ search: (prev) => ({ ...prev, category: c || undefined }), replace: true })}
              className={cn(
                "rounded-full border px-3 py-1 text-xs font-medium transition-colors cursor-pointer",
                category === c ? "border-primary bg-primary text-primary-foreground" : "bg-card hover:bg-accent",
              )}
            >
              {c ? categoryName(c) : "All"}
            </button>
          ))}
        </div>
        {sources.length > 2 && (
          <div className="flex flex-wrap items-center gap-2" role="group" aria-label="Stores">
            <span className="mr-1 text-xs font-medium text-muted-foreground">From</span>
            {sources.map(({ value, label }) => (
              <button
                key={value || "all"}
                type="button"
                aria-pressed={store === value}
                onClick={() => navigate({ search: (prev) => ({ ...prev, store: value || undefined }), replace: true })}
                className={cn(
                  "rounded-full border px-3 py-1 text-xs font-medium transition-colors cursor-pointer",
                  store === value ? "border-primary bg-primary text-primary-foreground" : "bg-card hover:bg-accent",
                )}
              >
                {label}
              </button>
            ))}
          </div>
        )}
      </div>
      <ErrorAlert error={list.error} className="mb-4" />
      {list.isPending ? (
        <Spinner />
      ) : templates.length === 0 ? (
        <EmptyState>
          No template matches{q ? ` “${q}”` : ""}
          {store ? ` in ${store === BUILTIN ? "AppOS's own catalog" : store}` : ""}.
        </EmptyState>
      ) : (
        <ul className="grid gap-3 sm:grid-cols-2 xl:grid-cols-3">
          {templates.map((t) => (
            <li key={t.name}>
              <TemplateLink
                name={t.name ?? ""}
                testId={`template-${t.name}`}
                className="flex h-full gap-3 rounded-xl border bg-card p-4 shadow-xs transition hover:border-primary/40 hover:shadow-md"
              >
                <TemplateLogo template={t} />
                <div className="min-w-0">
                  <div className="flex flex-wrap items-center gap-2">
                    <span className="font-medium">{t.title || t.name}</span>
                    {t.category && <Badge variant="muted">{categoryName(t.category)}</Badge>}
                  </div>
                  <p className="mt-1 line-clamp-2 text-sm text-muted-foreground">{t.description}</p>
                  {isCommunity(t) && (
                    <Badge variant="warning" className="mt-2 rounded-md whitespace-normal" data-testid="community-badge">
                      {communityLabel(t.store || (t.name ?? "").split("/")[0])}
                    </Badge>
                  )}
                </div>
              </TemplateLink>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
