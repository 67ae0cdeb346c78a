import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createRouter, RouterProvider } from "@tanstack/react-router";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ApiError } from "@/api/errors";
import { getToken, onSessionChange } from "@/api/session";
import { preloadRouteCode } from "@/lib/routeCode";
import { routeTree } from "./routeTree.gen";
import "./index.css";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 2_000,
      refetchOnWindowFocus: true,
      // Retrying a 4xx says the same thing again; a dropped connection may come back.
      retry: (count, error) => count < 2 && !(error instanceof ApiError && error.status >= 400 && error.status < 500),
    },
  },
});

const router = createRouter({ routeTree, context: { queryClient }, defaultPreload: "intent", scrollRestoration: true });

declare module "@tanstack/react-router" {
  interface Register {
    router: typeof router;
  }
}

// The token was refused, ran out or the user signed out: forget cached data, back to the login page.
onSessionChange(() => {
  if (getToken()) return;
  queryClient.clear();
  const here = router.state.location;
  if (here.pathname !== "/login") router.navigate({ to: "/login", search: { redirect: here.href } });
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);

// every page's code in the background once the first page is up (see lib/routeCode.ts)
window.addEventListener("load", () => {
  setTimeout(() => {
    preloadRouteCode(router).then((missing) => {
      // said on the page for whoever checks (the browser tests)
      document.documentElement.dataset.routeCode = missing.length ? "incomplete" : "loaded";
      if (missing.length) console.warn("the console's code for these pages did not arrive; they fetch it when shown:", missing);
    });
  }, 500);
});
