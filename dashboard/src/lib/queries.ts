/** Query options shared by several pages (one cache key each). None polls: the live events refresh
 * them (`liveQueries.ts`). */
import { infiniteQueryOptions, queryOptions } from "@tanstack/react-query";
import { api, unwrap } from "@/api/client";

export const appsQuery = queryOptions({
  queryKey: ["apps"],
  queryFn: () => unwrap(api.GET("/api/v1/apps")),
});

export const appQuery = (name: string) =>
  queryOptions({
    queryKey: ["app", name],
    queryFn: () => unwrap(api.GET("/api/v1/apps/{app}", { params: { path: { app: name } } })),
  });

export const DEPLOYMENTS_PAGE = 50;
export const VERSIONS_PAGE = 100;

/** One app's deployments, newest first, a page at a time (`next_page_token` → "Load more"). */
export const deploymentsQuery = (app: string) =>
  infiniteQueryOptions({
    queryKey: ["deployments", app],
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/api/v1/deployments", { params: { query: { app, page_size: DEPLOYMENTS_PAGE, page_token: pageParam || undefined } } })),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_page_token || undefined,
  });

/** One app's config versions, newest first, a page at a time. */
export const versionsQuery = (app: string) =>
  infiniteQueryOptions({
    queryKey: ["versions", app],
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/api/v1/apps/{app}/versions", { params: { path: { app }, query: { page_size: VERSIONS_PAGE, page_token: pageParam || undefined } } })),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_page_token || undefined,
  });

export const domainsQuery = queryOptions({
  queryKey: ["domains"],
  queryFn: () => unwrap(api.GET("/api/v1/proxy/domains")),
});
