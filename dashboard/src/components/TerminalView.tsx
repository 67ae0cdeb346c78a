import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { useEffect, useRef } from "react";
import { wsProtocols, wsUrl } from "@/api/client";
import { TERMINAL_CODE_REFUSALS } from "@/lib/twoFactor";

/** `error`: the session was refused or lost (shown as an alert), not ended normally.
 * `totpRequired`: refused for want of a (new) two-factor code: ask for one and connect again. */
export type TerminalState = { phase: "connecting" | "open" | "closed"; message?: string; error?: boolean; totpRequired?: boolean };

interface TerminalViewProps {
  /** `host` or `app:<app>/<service>`. */
  target: string;
  onState: (state: TerminalState) => void;
  /** A current two-factor code, for a user with 2FA (sent as the subprotocol `totp.<code>`). */
  totpCode?: string;
}

/**
 * xterm.js (its default DOM renderer) over `WS /api/v1/terminal/ws`: binary frames are the
 * terminal's bytes both ways; JSON text frames carry resize in and opened/exit/error out.
 */
export function TerminalView({ target, onState, totpCode }: TerminalViewProps) {
  const host = useRef<HTMLDivElement>(null);
  const report = useRef(onState);
  report.current = onState;

  useEffect(() => {
    if (!host.current) return;
    const term = new Terminal({
      cursorBlink: true,
      convertEol: false,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace',
      fontSize: 13,
      theme: { background: "#16171d", foreground: "#e6e6ef" },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host.current);
    try {
      fit.fit();
    } catch {
      /* not laid out yet */
    }
    report.current({ phase: "connecting" });
    const query = new URLSearchParams({ target, cols: String(term.cols), rows: String(term.rows) });
    const socket = new WebSocket(wsUrl(`/api/v1/terminal/ws?${query}`), [...wsProtocols(), ...(totpCode ? [`totp.${totpCode}`] : [])]);
    socket.binaryType = "arraybuffer";
    const encoder = new TextEncoder();
    let ended = false;

    const sendResize = () => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
    };
    socket.onmessage = (message) => {
      if (message.data instanceof ArrayBuffer) {
        term.write(new Uint8Array(message.data));
        return;
      }
      let data: { type?: string; message?: string; reason?: string; code?: number | string; signal?: number };
      try {
        data = JSON.parse(String(message.data));
      } catch {
        return;
      }
      if (data.type === "opened") {
        report.current({ phase: "open" });
        sendResize();
        term.focus();
      } else if (data.type === "exit") {
        ended = true;
        const how = typeof data.code === "number" && data.code >= 0 ? `, code ${data.code}` : data.signal ? `, signal ${data.signal}` : "";
        report.current({ phase: "closed", message: `Session ended (${data.reason ?? "exited"}${how}).` });
      } else if (data.type === "error") {
        ended = true;
        const totpRequired = TERMINAL_CODE_REFUSALS.includes(String(data.code));
        report.current({ phase: "closed", message: data.message ?? "The terminal was refused.", error: true, totpRequired });
      } else if (data.type === "detached") {
        ended = true;
        report.current({ phase: "closed", message: "Opened elsewhere: this view was detached." });
      }
    };
    socket.onclose = (close) => {
      if (!ended) report.current({ phase: "closed", message: close.reason || `Connection closed (${close.code}).`, error: close.code !== 1000 });
    };
    const input = term.onData((data) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data));
    });
    const binary = term.onBinary((data) => {
      if (socket.readyState !== WebSocket.OPEN) return;
      const bytes = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
      socket.send(bytes);
    });
    const observer = new ResizeObserver(() => {
      try {
        fit.fit();
      } catch {
        return;
      }
      sendResize();
    });
    observer.observe(host.current);

    return () => {
      observer.disconnect();
      input.dispose();
      binary.dispose();
      // This view is gone: its socket's close must not report over what the page shows now
      // ("Disconnected.", or the next session's state after "New session").
      socket.onmessage = null;
      socket.onclose = null;
      // Leaving the tab ends the session (close code 1000), with every process it started.
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "close" }));
      socket.close(1000);
      term.dispose();
    };
    // a new code means a new connection: the pages key this view by their session counter
  }, [target]);

  return <div ref={host} data-testid="terminal" className="h-[26rem] max-h-[60vh] w-full overflow-hidden rounded-lg bg-[#16171d] p-2" />;
}
