// Vite builds the UI into web/dist, which `zhishu serve` embeds in the
// release binary (services/server/src/ui.rs). During development,
// `npm run dev` proxies the API to a running server on :8080.
import { defineConfig } from "vite";

export default defineConfig({
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // No inline scripts or styles: the server sends a strict CSP.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: {
    proxy: {
      "/v1": "http://127.0.0.1:8080",
      "/healthz": "http://127.0.0.1:8080",
    },
  },
});
