import { describe, expect, it } from "vitest";
import { webBinding, webUrl } from "./apps";

const app = {
  name: "blog",
  web_service: "web",
  web_port: 18496,
  services: [
    { service: "db", ports: [] },
    { service: "web", ports: ["127.0.0.1:18496->8080/tcp", "127.0.0.1:18497->9090/tcp"] },
  ],
};

describe("the app's web UI", () => {
  it("finds the binding by host or container port", () => {
    expect(webBinding(app)).toEqual({ host: 18496, container: 8080 });
    expect(webBinding({ ...app, web_port: 9090 })).toEqual({ host: 18497, container: 9090 });
    expect(webBinding({ ...app, web_service: "" })).toBeNull();
  });

  it("links to the published port on this host", () => {
    expect(webUrl(app, { protocol: "https:", hostname: "server.lan" })).toBe("http://server.lan:18496/");
    expect(webUrl({ ...app, services: [] }, { protocol: "http:", hostname: "x" })).toBeNull();
  });
});
