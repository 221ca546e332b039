#!/usr/bin/env node
// Builds OpenIMI's front-end assets into internal/web/static/dist/, which the
// Go package internal/web/static embeds.
//
//   npm ci && node web/build.mjs            # production build (minified)
//   node web/build.mjs --sourcemap          # also write app.js.map / app.css.map
//
// Inputs: web/src/app.css, web/src/app.js (our own code), @ecl/preset-ec's
// prebuilt dist, @ecl/resources-icons' sprite, htmx.org. Outputs:
//   app.css, app.js                 bundled and minified
//   <name>-<HASH>.<ext>             fonts/images referenced by app.css (esbuild
//                                   "file" loader), referenced relative to app.css
//   icons.svg                       ECL icon sprite (<svg><use href="…icons.svg#global">)
//   logo/…                          EC logos for the site header / footer
//   manifest.json                   names that already carry a content hash
//                                   (the Go handler serves them as immutable)
//
// The dist folder is cleaned first (README.md and .gitignore are kept), so the
// output only depends on the inputs. Exits non-zero on any error.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const started = performance.now();
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const srcDir = path.join(here, 'src');
const outDir = path.join(repo, 'internal', 'web', 'static', 'dist');
const keep = new Set(['README.md', '.gitignore']);
const args = new Set(process.argv.slice(2));
const sourcemap = args.has('--sourcemap');

// Browsers we support (roughly: current ESR / two-year-old evergreen).
const target = ['chrome109', 'edge109', 'firefox115', 'safari15.6'];

const require = createRequire(import.meta.url);

function fail(message) {
  console.error(`web/build.mjs: ${message}`);
  process.exit(1);
}

// esbuild's own postinstall step may not have run (npm 11 holds install
// scripts back until they are approved). The JS API does not need it: it runs
// the native binary of the platform package (@esbuild/linux-x64, ...). To not
// depend on esbuild's lookup logic either, point ESBUILD_BINARY_PATH at that
// binary before esbuild is first imported (esbuild reads it at import time).
async function loadEsbuild() {
  if (!process.env.ESBUILD_BINARY_PATH) {
    const pkg = `@esbuild/${process.platform}-${process.arch}`;
    try {
      const bin = path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'bin', 'esbuild');
      if (existsSync(bin)) process.env.ESBUILD_BINARY_PATH = bin;
    } catch {
      // No platform package: let esbuild find its binary itself.
    }
  }
  let esbuild;
  try {
    esbuild = await import('esbuild');
    await esbuild.transform('', {}); // starts the service: proves the binary runs
  } catch (err) {
    fail(`cannot run esbuild (${err.message}); run "npm ci" first`);
  }
  return esbuild;
}

function packageDir(name) {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    fail(`package ${name} is not installed: run "npm ci" first`);
  }
}

// ECL's stylesheets load the Inter font from webtools.europa.eu before the
// bundled copy, and embed a few images as data: URIs. Our CSP allows neither
// (font-src/img-src 'self'), so this plugin drops the remote font sources and
// moves each data: URI into a file of its own.
function eclCssPlugin(eclDir) {
  const inline = new Map(); // "<sha>.<ext>" -> Buffer
  const extByMime = {
    'image/svg+xml': 'svg',
    'image/gif': 'gif',
    'image/png': 'png',
    'image/jpeg': 'jpg',
    'image/webp': 'webp',
    'font/woff2': 'woff2',
  };
  const remoteSrc = /url\(\s*(["']?)https?:\/\/[^)'"]*\1\s*\)(\s*format\([^)]*\))?\s*,\s*/g;
  const remoteSrcLast = /,\s*url\(\s*(["']?)https?:\/\/[^)'"]*\1\s*\)(\s*format\([^)]*\))?/g;
  const dataUrl = /url\(\s*(?:"(data:[^"]*)"|'(data:[^']*)'|(data:[^)'"\s]*))\s*\)/g;

  function extract(uri, file) {
    const comma = uri.indexOf(',');
    if (comma < 0) throw new Error(`${file}: malformed data: URI`);
    const meta = uri.slice(5, comma).split(';');
    const mime = meta[0].toLowerCase();
    const payload = uri.slice(comma + 1);
    const ext = extByMime[mime];
    if (!ext) throw new Error(`${file}: unsupported data: URI type ${mime}`);
    let bytes;
    if (meta.includes('base64')) {
      bytes = Buffer.from(payload, 'base64');
    } else {
      let text;
      try {
        text = decodeURIComponent(payload);
      } catch {
        text = payload;
      }
      bytes = Buffer.from(text, 'utf8');
    }
    const key = `ecl-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}.${ext}`;
    inline.set(key, bytes);
    return `url("ecl-inline:${key}")`;
  }

  return {
    name: 'ecl-css',
    setup(build) {
      build.onLoad({ filter: /\.css$/ }, async (args) => {
        if (!args.path.startsWith(eclDir + path.sep)) return undefined;
        let css = await readFile(args.path, 'utf8');
        css = css.replace(remoteSrc, '').replace(remoteSrcLast, '');
        css = css.replace(dataUrl, (_, a, b, c) => extract(a ?? b ?? c, args.path));
        return { contents: css, loader: 'css', resolveDir: path.dirname(args.path) };
      });
      build.onResolve({ filter: /^ecl-inline:/ }, (args) => ({
        path: args.path.slice('ecl-inline:'.length),
        namespace: 'ecl-inline',
      }));
      build.onLoad({ filter: /.*/, namespace: 'ecl-inline' }, (args) => {
        const contents = inline.get(args.path);
        if (!contents) return { errors: [{ text: `unknown inline asset ${args.path}` }] };
        return { contents, loader: 'file' };
      });
    },
  };
}

async function cleanOutDir() {
  await mkdir(outDir, { recursive: true });
  for (const entry of await readdir(outDir)) {
    if (!keep.has(entry)) {
      await rm(path.join(outDir, entry), { recursive: true, force: true });
    }
  }
}

async function copyInto(from, toRel) {
  const to = path.join(outDir, toRel);
  await mkdir(path.dirname(to), { recursive: true });
  await copyFile(from, to);
  return toRel;
}

async function listFiles(dir, base = dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full, base)));
    else out.push(path.relative(base, full).split(path.sep).join('/'));
  }
  return out.sort();
}

function human(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

async function main() {
  const eclDir = packageDir('@ecl/preset-ec');
  const iconsDir = packageDir('@ecl/resources-icons');
  packageDir('htmx.org');
  const esbuild = await loadEsbuild();

  await cleanOutDir();

  const common = {
    absWorkingDir: repo,
    bundle: true,
    minify: true,
    sourcemap: sourcemap ? 'linked' : false,
    sourcesContent: false,
    target,
    outdir: outDir,
    assetNames: '[name]-[hash]',
    entryNames: '[name]',
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
    write: true,
  };

  const [css, js] = await Promise.all([
    esbuild.build({
      ...common,
      entryPoints: [path.join(srcDir, 'app.css')],
      loader: {
        '.woff2': 'file',
        '.woff': 'file',
        '.ttf': 'file',
        '.svg': 'file',
        '.png': 'file',
        '.gif': 'file',
        '.jpg': 'file',
        '.webp': 'file',
      },
      plugins: [eclCssPlugin(eclDir)],
    }),
    esbuild.build({
      ...common,
      entryPoints: [path.join(srcDir, 'app.js')],
      format: 'iife',
      platform: 'browser',
      // ECL's preset declares its component source packages as dependencies;
      // they are placeholders here (see web/ecl-stub), the dist is self-contained.
      mainFields: ['module', 'main'],
    }),
  ]);

  // Guard the CSP: nothing in the bundle may point to another origin or use
  // a data: URI.
  const appCss = await readFile(path.join(outDir, 'app.css'), 'utf8');
  const external = appCss.match(/url\(\s*["']?(?:[a-z][a-z0-9+.-]*:|\/\/)[^)]*\)/gi);
  if (external) {
    fail(`app.css still references non-local URLs: ${external.slice(0, 3).join(', ')}`);
  }

  // Files esbuild named with its own content hash (fonts, images).
  const hashed = new Set();
  for (const result of [css, js]) {
    for (const [out, info] of Object.entries(result.metafile.outputs)) {
      if (info.entryPoint || out.endsWith('.map')) continue;
      hashed.add(path.relative(outDir, path.resolve(repo, out)).split(path.sep).join('/'));
    }
  }

  // ECL icon sprite.
  await copyInto(path.join(iconsDir, 'dist', 'sprites', 'icons.svg'), 'icons.svg');

  // EC logos: logo/positive/logo-ec--<lang>.svg (header, light background),
  // logo/negative/logo-ec--<lang>.svg (footer, dark background), and the
  // language-neutral "mute" emblem.
  const logoSrc = path.join(eclDir, 'dist', 'images', 'logo');
  for (const variant of ['positive', 'negative']) {
    for (const file of (await readdir(path.join(logoSrc, variant))).sort()) {
      if (file.endsWith('.svg')) {
        await copyInto(path.join(logoSrc, variant, file), `logo/${variant}/${file}`);
      }
    }
  }
  for (const file of ['logo-ec--mute.svg', 'logo-ec--mute-negative.svg']) {
    await copyInto(path.join(logoSrc, file), `logo/${file}`);
  }

  const eclVersion = JSON.parse(await readFile(path.join(eclDir, 'package.json'), 'utf8')).version;
  const htmxVersion = JSON.parse(await readFile(path.join(packageDir('htmx.org'), 'package.json'), 'utf8')).version;
  const manifest = {
    comment: 'Generated by web/build.mjs. "hashed" lists files whose names already carry a content hash.',
    ecl: eclVersion,
    htmx: htmxVersion,
    hashed: [...hashed].sort(),
  };
  await writeFile(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');

  for (const required of ['app.css', 'app.js', 'icons.svg', 'logo/positive/logo-ec--en.svg']) {
    if (!existsSync(path.join(outDir, required))) fail(`expected output ${required} is missing`);
  }

  // Summary.
  const files = (await listFiles(outDir)).filter((f) => !keep.has(f));
  let total = 0;
  let logos = 0;
  let logoBytes = 0;
  const lines = [];
  for (const f of files) {
    const { size } = await stat(path.join(outDir, f));
    total += size;
    if (f.startsWith('logo/')) {
      logos++;
      logoBytes += size;
      continue;
    }
    lines.push(`  ${f.padEnd(44)} ${human(size).padStart(10)}`);
  }
  lines.push(`  ${`logo/** (${logos} SVG files)`.padEnd(44)} ${human(logoBytes).padStart(10)}`);
  const ms = Math.round(performance.now() - started);
  console.log(`web/build.mjs: ECL ${eclVersion}, htmx ${htmxVersion} -> ${path.relative(repo, outDir)}/`);
  console.log(lines.join('\n'));
  console.log(`  ${files.length} files, ${human(total)} in ${ms} ms`);
}

main().catch((err) => {
  fail(err && err.errors ? 'esbuild failed (see above)' : (err && err.stack) || String(err));
});
