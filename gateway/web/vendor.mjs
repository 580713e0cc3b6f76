// Copies the browser libraries the page needs from node_modules into static/vendor/, so that the
// gateway serves them itself: no CDN and no network at run time. The copies are committed;
// re-run after changing a version in package.json:
//
//   cd gateway/web && npm ci --omit=optional && npm run vendor
//
// Only what the page loads is copied (minified builds, no source maps), and vendor/MANIFEST.json
// records each file's package, version, size and sha256 so a test can check the copies are intact.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const vendor = join(here, "static", "vendor");

// [package, file inside the package, destination inside static/vendor]
const FILES = [
  // Verovio: the ESM toolkit wrapper and the module with its WebAssembly inlined (no humdrum).
  ["verovio", "dist/verovio.mjs", "verovio/verovio.mjs"],
  ["verovio", "dist/verovio-module.mjs", "verovio/verovio-module.mjs"],
  // pdf.js: the library, its worker, and the image decoders scanned PDFs need (JBIG2, JPEG 2000,
  // colour profiles). Standard fonts and CMaps are left out: engraved music PDFs embed their fonts.
  ["pdfjs-dist", "build/pdf.min.mjs", "pdfjs/pdf.min.mjs"],
  ["pdfjs-dist", "build/pdf.worker.min.mjs", "pdfjs/pdf.worker.min.mjs"],
  ["pdfjs-dist", "wasm/jbig2.wasm", "pdfjs/wasm/jbig2.wasm"],
  ["pdfjs-dist", "wasm/openjpeg.wasm", "pdfjs/wasm/openjpeg.wasm"],
  ["pdfjs-dist", "wasm/qcms_bg.wasm", "pdfjs/wasm/qcms_bg.wasm"],
  ["pdfjs-dist", "LICENSE", "pdfjs/LICENSE"],
  ["pdfjs-dist", "wasm/LICENSE_JBIG2", "pdfjs/wasm/LICENSE_JBIG2"],
  ["pdfjs-dist", "wasm/LICENSE_OPENJPEG", "pdfjs/wasm/LICENSE_OPENJPEG"],
  ["pdfjs-dist", "wasm/LICENSE_QCMS", "pdfjs/wasm/LICENSE_QCMS"],
];

function packageInfo(name) {
  const meta = JSON.parse(readFileSync(join(modules, name, "package.json"), "utf8"));
  return { version: meta.version, license: meta.license };
}

rmSync(vendor, { recursive: true, force: true });
const manifest = { packages: {}, files: {} };
for (const [pkg, source, destination] of FILES) {
  const target = join(vendor, destination);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(join(modules, pkg, source), target);
  manifest.packages[pkg] = packageInfo(pkg);
  manifest.files[destination] = {
    package: pkg,
    size: statSync(target).size,
    sha256: createHash("sha256").update(readFileSync(target)).digest("hex"),
  };
}
// Verovio's npm package ships no licence file; record its licence (LGPL-3.0-or-later) here.
writeFileSync(
  join(vendor, "verovio", "NOTICE"),
  `Verovio ${manifest.packages.verovio.version} (https://www.verovio.org), ` +
    `${manifest.packages.verovio.license}, copied unmodified from the npm package "verovio".\n`,
);
writeFileSync(join(vendor, "MANIFEST.json"), JSON.stringify(manifest, null, 2) + "\n");

const total = Object.values(manifest.files).reduce((sum, file) => sum + file.size, 0);
console.log(`vendored ${Object.keys(manifest.files).length} files, ${(total / 1e6).toFixed(2)} MB`);
