import { Check, Copy } from "lucide-react";
import { useState } from "react";
import { Button } from "@/components/ui/button";

/** Puts `text` on the clipboard. The Clipboard API needs a secure context (HTTPS or localhost);
 *  a console served over plain HTTP on the LAN falls back to a hidden text area and "copy". */
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  try {
    if (!document.execCommand("copy")) throw new Error("The browser refused to copy; select the text and copy it by hand.");
  } finally {
    area.remove();
  }
}

/** A small "Copy" button that says "Copied" once the text is on the clipboard. */
export function CopyButton({ text, label = "Copy", what }: { text: string; label?: string; what?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const copy = async () => {
    try {
      await copyText(text);
      setState("copied");
    } catch {
      setState("failed");
    }
  };
  return (
    <Button type="button" variant="outline" size="sm" aria-label={what ? `Copy ${what}` : undefined} onClick={() => void copy()}>
      {state === "copied" ? <Check /> : <Copy />}
      {state === "copied" ? "Copied" : state === "failed" ? "Copy failed" : label}
    </Button>
  );
}
