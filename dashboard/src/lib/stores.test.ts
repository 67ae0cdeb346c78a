/** App stores in words: names suggested from URLs and checked like the deployer does, a store's
 * error with its next step, template names with a store, the catalog's store filter. */
import { describe, expect, it } from "vitest";
import {
  communityLabel,
  defaultAppName,
  formatName,
  isCommunity,
  refreshedWords,
  splitTemplateName,
  storeChoices,
  storeProblem,
  suggestStoreName,
  validateStoreName,
} from "@/lib/stores";

describe("suggestStoreName", () => {
  it.each([
    ["https://github.com/IceWhaleTech/CasaOS-AppStore.git", "casaos-appstore"],
    ["https://github.com/runtipi/runtipi-appstore", "runtipi-appstore"],
    ["https://github.com/getumbrel/umbrel-apps/", "umbrel-apps"],
    ["git@github.com:Dokploy/templates.git", "templates"],
    ["https://example.com/stores/My_Store.tar.gz", "my-store"],
    ["https://example.com/stores/apps.zip?token=x", "apps"],
    ["/srv/stores/community", "community"],
    ["file:///srv/stores/casa", "casa"],
  ])("%s → %s", (url, name) => {
    expect(suggestStoreName(url)).toBe(name);
  });

  it("suggests nothing it would refuse", () => {
    expect(suggestStoreName("")).toBe("");
    expect(suggestStoreName("https://example.com/")).toBe("example-com");
    expect(suggestStoreName("/srv/builtin")).toBe("");
    expect(suggestStoreName("/srv/stores")).toBe("");
    expect(suggestStoreName("/srv/___")).toBe("");
    expect(suggestStoreName(`/srv/${"a".repeat(80)}`)).toHaveLength(63);
  });
});

describe("validateStoreName", () => {
  it("takes a DNS label that is not reserved", () => {
    expect(validateStoreName("casa")).toBeNull();
    expect(validateStoreName("casa-2")).toBeNull();
    expect(validateStoreName("")).toBe("Give the store a name.");
    expect(validateStoreName("-casa")).toMatch(/Lowercase letters/);
    expect(validateStoreName("Casa")).toMatch(/Lowercase letters/);
    expect(validateStoreName("a".repeat(64))).toMatch(/at most 63/);
    expect(validateStoreName("builtin")).toMatch(/reserved/);
    expect(validateStoreName("stores")).toMatch(/reserved/);
  });
});

describe("storeProblem", () => {
  it("is nothing for a store without an error", () => {
    expect(storeProblem({ error: "", templates: 3, skipped: 1 })).toBeNull();
    expect(storeProblem({ templates: 3 })).toBeNull();
  });

  it("says a failed refresh kept the templates and what to check", () => {
    const problem = storeProblem({ error: "the last refresh failed, the templates are the previous ones: git fetch: could not resolve host", templates: 4 });
    expect(problem?.severity).toBe("warning");
    expect(problem?.summary).toBe("The last refresh failed, the templates are the previous ones: git fetch: could not resolve host.");
    expect(problem?.next).toMatch(/can be reached from this server/);
  });

  it("points at the skipped entries when none could be used", () => {
    const problem = storeProblem({ error: "no entry could be used: all 2 were skipped (see why below)", templates: 0, skipped: 2 });
    expect(problem).toEqual(expect.objectContaining({ severity: "error", summary: "No entry could be used: all 2 were skipped." }));
    expect(problem?.next).toMatch(/Open Details/);
  });

  it("suggests the URL or the format when the layout is not found", () => {
    const problem = storeProblem({ error: "the store has no apps in the casaos layout", templates: 0 });
    expect(problem?.summary).toBe("The store has no apps in the casaos layout.");
    expect(problem?.next).toMatch(/top folder.*format chosen/);
  });
});

describe("template names", () => {
  it("splits a store's name from its template's", () => {
    expect(splitTemplateName("casa/whoami")).toEqual({ store: "casa", template: "whoami" });
    expect(splitTemplateName("nginx")).toEqual({ store: "", template: "nginx" });
    expect(defaultAppName("casa/whoami")).toBe("whoami");
    expect(defaultAppName("nginx")).toBe("nginx");
  });

  it("marks store templates as community ones", () => {
    expect(isCommunity({ name: "casa/whoami", store: "casa" })).toBe(true);
    expect(isCommunity({ name: "casa/whoami" })).toBe(true);
    expect(isCommunity({ name: "nginx", store: "builtin" })).toBe(false);
    expect(isCommunity({ name: "nginx" })).toBe(false);
    expect(communityLabel("casa")).toBe("casa · community, not reviewed by AppOS");
  });

  it("names the formats", () => {
    expect(formatName("casaos")).toBe("CasaOS");
    expect(formatName("portainer")).toBe("Portainer");
    expect(formatName("")).toBe("—");
    expect(formatName("other")).toBe("other");
  });
});

describe("storeChoices", () => {
  it("offers all, AppOS's own and each store", () => {
    expect(storeChoices(["casa", "tipi"], "")).toEqual([
      { value: "", label: "All stores" },
      { value: "builtin", label: "AppOS" },
      { value: "casa", label: "casa" },
      { value: "tipi", label: "tipi" },
    ]);
  });

  it("keeps a store a link asked for even when it is gone", () => {
    expect(storeChoices([], "old").map((c) => c.value)).toEqual(["", "builtin", "old"]);
    expect(storeChoices([], "builtin").map((c) => c.value)).toEqual(["", "builtin"]);
  });
});

describe("refreshedWords", () => {
  it("says what a refresh found", () => {
    expect(refreshedWords({ templates: 2, skipped: 1, error: "", changed: [] })).toBe("Refreshed: 2 templates, 1 skipped; no template changed.");
    expect(refreshedWords({ templates: 1, skipped: 0, error: "", changed: ["casa/web"] })).toBe(
      "Refreshed: 1 template, 0 skipped; 1 template changed (casa/web): apps made from it show an update.",
    );
    expect(refreshedWords({ templates: 2, skipped: 0, error: "the last refresh failed, the templates are the previous ones: x", changed: [] })).toMatch(/keeps its previous templates/);
  });
});
