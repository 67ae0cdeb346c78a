/** The console's code is split by route: a page's code is fetched the first time it is shown.
 *
 * On the machine AppOS runs on, Chromium fails every request in flight whenever a network interface
 * comes or goes (net::ERR_NETWORK_CHANGED) — and a deploy makes Docker create one. The page a deploy
 * leads to (its deployment, with the secrets generated for it, shown once) was fetched exactly then;
 * when it was lost the router reloaded the whole console, and the secrets with it. So once the
 * console is up, the code of every page is fetched in the background, each retried until it
 * arrives: later navigations fetch nothing. */

const COMPONENTS = ["component", "errorComponent", "pendingComponent", "notFoundComponent"] as const;

type Preloadable = { preload?: () => unknown } | undefined;
export type RouteLike = { options: Partial<Record<(typeof COMPONENTS)[number], unknown>> };
export type RouterLike = {
  routesById: object;
  loadRouteChunk: (route: never) => Promise<unknown> | unknown;
};

/** A lazy component keeps its `preload` until its code has arrived (TanStack Router's lazyRouteComponent). */
function waiting(route: RouteLike): boolean {
  return COMPONENTS.some((type) => typeof (route.options[type] as Preloadable)?.preload === "function");
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Fetches the code of every route, one after the other, each up to `attempts` times. Returns the
 * ids of the routes whose code never arrived (their page fetches it again when shown). */
export async function preloadRouteCode(router: RouterLike, { attempts = 6, retryMs = 250 } = {}): Promise<string[]> {
  const missing: string[] = [];
  for (const [id, route] of Object.entries(router.routesById) as [string, RouteLike][]) {
    for (let attempt = 0; ; attempt++) {
      try {
        await router.loadRouteChunk(route as never);
      } catch {
        // the route's own code (lazyFn) failed: tried again below
      }
      if (!waiting(route)) break;
      if (attempt + 1 >= attempts) {
        missing.push(id);
        break;
      }
      await pause(retryMs * 2 ** attempt);
    }
  }
  return missing;
}
