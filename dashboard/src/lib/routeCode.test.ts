import { describe, expect, it } from "vitest";
import { preloadRouteCode, type RouteLike } from "./routeCode";

/** A route whose lazy component's code fails `failures` times, then arrives (as TanStack Router's
 * lazyRouteComponent does: `preload` stays until the code is in). */
function lazyRoute(failures: number) {
  let calls = 0;
  const component: { preload?: () => Promise<void> } = {};
  component.preload = async () => {
    calls++;
    if (calls > failures) component.preload = undefined;
  };
  const route: RouteLike = { options: { component } };
  return { route, calls: () => calls };
}

const router = (routes: Record<string, RouteLike>) => ({
  routesById: routes,
  loadRouteChunk: (route: RouteLike) => (route.options.component as { preload?: () => Promise<void> })?.preload?.(),
});

describe("preloadRouteCode", () => {
  it("fetches every route's code, again after a dropped request, and stops once it arrived", async () => {
    const flaky = lazyRoute(2);
    const fine = lazyRoute(0);
    const plain: RouteLike = { options: { component: () => null } };
    const missing = await preloadRouteCode(router({ "/a": flaky.route, "/b": fine.route, "/c": plain }), { retryMs: 1 });
    expect(missing).toEqual([]);
    expect(flaky.calls()).toBe(3);
    expect(fine.calls()).toBe(1);
  });

  it("gives up after its attempts and says which routes are still missing", async () => {
    const down = lazyRoute(100);
    const missing = await preloadRouteCode(router({ "/down": down.route }), { attempts: 3, retryMs: 1 });
    expect(missing).toEqual(["/down"]);
    expect(down.calls()).toBe(3);
  });

  it("tries a route again when its own chunk (the router's lazyFn) fails", async () => {
    let calls = 0;
    const route: RouteLike = { options: { component: { preload: () => undefined } } };
    const r = {
      routesById: { "/x": route },
      loadRouteChunk: async () => {
        calls++;
        if (calls < 2) throw new TypeError("Failed to fetch dynamically imported module");
        route.options.component = () => null;
      },
    };
    expect(await preloadRouteCode(r, { retryMs: 1 })).toEqual([]);
    expect(calls).toBe(2);
  });
});
