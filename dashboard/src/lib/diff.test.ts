import { describe, expect, it } from "vitest";
import { diffStats, parseUnifiedDiff } from "./diff";

const DIFF = `--- v1/compose.yaml
+++ v2/compose.yaml
@@ -1,4 +1,4 @@
 services:
   web:
-    image: nginx:1.25
+    image: nginx:1.27
     restart: unless-stopped
@@ -10,2 +10,3 @@
 volumes:
   data:
+  logs:
`;

describe("unified diff parsing", () => {
  const rows = parseUnifiedDiff(DIFF);

  it("classifies each line and numbers old and new lines from the hunk headers", () => {
    expect(rows.map((r) => r.kind)).toEqual(["file", "file", "hunk", "context", "context", "del", "add", "context", "hunk", "context", "context", "add"]);
    expect(rows[5]).toEqual({ kind: "del", text: "    image: nginx:1.25", oldLine: 3 });
    expect(rows[6]).toEqual({ kind: "add", text: "    image: nginx:1.27", newLine: 3 });
    expect(rows[7]).toMatchObject({ oldLine: 4, newLine: 4 });
    expect(rows[11]).toEqual({ kind: "add", text: "  logs:", newLine: 12 });
  });

  it("counts additions and removals", () => {
    expect(diffStats(rows)).toEqual({ added: 2, removed: 1 });
    expect(parseUnifiedDiff("")).toEqual([]);
  });
});
