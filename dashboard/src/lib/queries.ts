/** Query options shared by several pages (one cache key each). */
import { queryOptions } from "@tanstack/react-query";
import { api, unwrap } from "@/api/client";

export const appsQuery = queryOptions({
  queryKey: ["apps"],
  queryFn: () => unwrap(api.GET("/api/v1/apps")),
  refetchInterval: 15_000,
});

export const appQuery = (name: string) =>
  queryOptions({
    queryKey: ["app", name],
    queryFn: () => unwrap(api.GET("/api/v1/apps/{app}", { params: { path: { app: name } } })),
    refetchInterval: 15_000,
  });

export const deploymentsQuery = (app: string) =>
  queryOptions({
    queryKey: ["deployments", app],
    queryFn: () => unwrap(api.GET("/api/v1/deployments", { params: { query: { app, page_size: 50 } } })),
  });

export const versionsQuery = (app: string) =>
  queryOptions({
    queryKey: ["versions", app],
    queryFn: () => unwrap(api.GET("/api/v1/apps/{app}/versions", { params: { path: { app }, query: { page_size: 100 } } })),
  });

export const domainsQuery = queryOptions({
  queryKey: ["domains"],
  queryFn: () => unwrap(api.GET("/api/v1/proxy/domains")),
  refetchInterval: 30_000,
});
