// Bundles src/index.jsx (React, React Flow and its CSS) into ../static/flow_canvas.js and flow_canvas.css.
// Run through scripts/build_canvas.sh, which also records the sources' hash beside the bundle.
import * as esbuild from "esbuild";

await esbuild.build({
  entryPoints: ["src/index.jsx"],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  jsx: "automatic",
  legalComments: "none",
  define: { "process.env.NODE_ENV": '"production"' },
  outfile: "../static/flow_canvas.js",
  logLevel: "warning",
});
