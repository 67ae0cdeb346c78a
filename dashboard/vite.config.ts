/// <reference types="vitest/config" />
import path from "node:path";
import tailwindcss from "@tailwindcss/vite";
import { tanstackRouter } from "@tanstack/router-plugin/vite";
import react from "@vitejs/plugin-react";
import { defineConfig, type ProxyOptions } from "vite";

// `make dev`: Vite serves the dashboard and hands the API, the events and terminal WebSockets
// and the OpenAPI document to a running gateway (`make run`).
const gateway = process.env.APPOS_GATEWAY ?? `http://127.0.0.1:${process.env.APPOS_PORT ?? "8080"}`;

function proxyTo(ws: boolean): ProxyOptions {
  return {
    target: gateway,
    changeOrigin: true,
    ws,
    // The gateway accepts WebSockets only from its own origin: present the proxied ones as such.
    configure: (proxy) => {
      proxy.on("proxyReqWs", (req) => req.setHeader("origin", gateway));
    },
  };
}

export default defineConfig({
  plugins: [tanstackRouter({ target: "react", autoCodeSplitting: true }), react(), tailwindcss()],
  resolve: { alias: { "@": path.resolve(import.meta.dirname, "src") } },
  server: {
    port: Number(process.env.APPOS_DEV_PORT ?? 5173),
    proxy: {
      "/api": proxyTo(true),
      "/health": proxyTo(false),
      "/openapi.json": proxyTo(false),
      "/docs": proxyTo(false),
    },
  },
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    // The machine running the suite may be busy (2 cores shared with the Python suite).
    testTimeout: 30_000,
  },
});
