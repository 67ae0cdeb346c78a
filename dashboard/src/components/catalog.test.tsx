/** The catalog in words and pictures: logos from Simple Icons (initials when there is none),
 * category names, setting labels; and the host shell's first-time confirmation. */
import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { TemplateLogo } from "@/components/TemplateLogo";
import { categoryName, settingLabel, TEMPLATE_ICONS } from "@/lib/catalog";

describe("TemplateLogo", () => {
  it("draws the app's Simple Icons logo in its brand colour", () => {
    render(<TemplateLogo template={{ name: "wordpress", title: "WordPress" }} />);
    const logo = screen.getByTestId("logo-wordpress");
    expect(logo).toHaveAttribute("data-logo", "icon");
    const svg = screen.getByRole("img", { name: "WordPress logo" });
    expect(svg).toHaveAttribute("fill", `#${TEMPLATE_ICONS.wordpress.hex}`);
    expect(svg.querySelector("path")?.getAttribute("d")).toBe(TEMPLATE_ICONS.wordpress.path);
  });

  it("shows the initials of an app without one", () => {
    render(<TemplateLogo template={{ name: "filebrowser", title: "File Browser" }} />);
    expect(screen.getByTestId("logo-filebrowser")).toHaveAttribute("data-logo", "initials");
    expect(screen.getByTestId("logo-filebrowser")).toHaveTextContent("Fi");
  });
});

describe("catalog words", () => {
  it("names the categories properly", () => {
    expect(categoryName("cms")).toBe("CMS");
    expect(categoryName("devtools")).toBe("Developer tools");
    expect(categoryName("database")).toBe("Databases");
    expect(categoryName("home-automation")).toBe("Home automation");
  });

  it("labels settings in words", () => {
    expect(settingLabel("HTTP_PORT")).toBe("Web port");
    expect(settingLabel("DB_ROOT_PASSWORD")).toBe("Database root password");
    expect(settingLabel("PUBLIC_URL")).toBe("Public URL");
    expect(settingLabel("TZ")).toBe("Time zone");
  });
});
