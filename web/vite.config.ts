// Builds the dashboard into web/dist, which lokd serves at / (src/api/static_files.h).
// `npm run dev` serves it with hot reload and proxies the API to a running lokd
// (LOK_URL, default http://127.0.0.1:8080).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // ECharts' tree-shaken core, charts and SVG renderer are ~570 kB (~195 kB gzipped).
    chunkSizeWarningLimit: 700,
    // ECharts is one chunk of its own so the app's chunk changes without it.
    rollupOptions: {
      output: {
        manualChunks: { echarts: ["echarts/core", "echarts/charts", "echarts/components", "echarts/renderers"] },
      },
    },
  },
  server: {
    proxy: { "/v1": process.env["LOK_URL"] ?? "http://127.0.0.1:8080" },
  },
});
