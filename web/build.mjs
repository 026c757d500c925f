// Builds web/dist/ for `klined serve --web-root web/dist`: index.html as is, plus one minified
// bundle each of the JS (lightweight-charts included, so the page needs no CDN: klined's users
// often run it on hosts without internet) and the CSS. `npm run build` runs this.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
const dist = here + 'dist';
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: [here + 'src/main.js', here + 'src/style.css'],
  outdir: dist,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  legalComments: 'eof', // keeps lightweight-charts' Apache-2.0 notice in the bundle
  logLevel: 'info',
});
copyFileSync(here + 'src/index.html', dist + '/index.html');
