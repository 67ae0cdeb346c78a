/** A deployment's page says which image and digest each service ran. */
import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { DeploymentImages, shortDigest } from "@/components/DeploymentImages";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;

describe("DeploymentImages", () => {
  it("shortens a digest and says when there is none", () => {
    expect(shortDigest(A)).toBe("sha256:aaaaaaaaaaaa");
    expect(shortDigest("")).toBe("digest unknown");
    expect(shortDigest(undefined)).toBe("digest unknown");
  });

  it("lists each service's image and short digest, marking images built here", () => {
    render(
      <DeploymentImages
        images={[
          { service: "web", image: "nginx:latest", digest: A, image_id: B },
          { service: "worker", image: "mine:latest", digest: B, image_id: B },
        ]}
      />,
    );
    const shown = screen.getByTestId("deployment-images");
    expect(shown).toHaveTextContent("webnginx:latest · sha256:aaaaaaaaaaaa");
    expect(shown).toHaveTextContent("workermine:latest · sha256:bbbbbbbbbbbb (built here)");
  });

  it("shows nothing for a deployment that ran nothing yet", () => {
    const { container } = render(<DeploymentImages images={[]} />);
    expect(container).toBeEmptyDOMElement();
  });
});
