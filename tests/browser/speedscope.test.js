// Loads a `pyperf record --timeline` file into speedscope itself (its
// released dist/ files, served to headless Debian chromium) and reads what
// its Time Order view renders: hovering the flame chart shows each bar's
// name and length, so the phases' order and lengths are checked as drawn.
//
// usage: node speedscope.test.js SPEC_JSON
// SPEC_JSON (written by tests/e2e/test_timeline.py):
//   { "chromium": path,
//     "runs": [{"profile": path, "title": text the toolbar must show}, ...],
//     "phases": [{"name": "compute", "seconds": 1.0}, ...] in time order,
//     "tolerance": 0.25 }
// Prints "ok: ..." per check, then PASS; exits 1 with "FAIL: ..." otherwise.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const WAIT_MS = 15000;
const ORIGIN = 'http://speedscope.test';
const DIST = path.join(__dirname, 'node_modules', 'speedscope', 'dist', 'release');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
                '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.wasm': 'application/wasm' };

function fail(msg) {
  const err = new Error(msg);
  err.isCheck = true;
  throw err;
}

// speedscope's time format: "1.00s", "850.00ms", "12.00µs", "2.5min".
function seconds(text) {
  const m = /^([0-9.]+)\s*(min|s|ms|µs|us|ns)$/.exec(text.trim());
  if (!m) return NaN;
  const scale = { min: 60, s: 1, ms: 1e-3, 'µs': 1e-6, us: 1e-6, ns: 1e-9 }[m[2]];
  return parseFloat(m[1]) * scale;
}

async function main() {
  const [specPath] = process.argv.slice(2);
  if (!specPath) {
    console.error('usage: node speedscope.test.js SPEC_JSON');
    process.exit(2);
  }
  const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyperf-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: spec.chromium || '/usr/bin/chromium',
    headless: true,
    // speedscope draws with WebGL: SwiftShader stands in for a GPU.
    args: ['--headless', '--no-sandbox', '--use-gl=swiftshader', '--enable-unsafe-swiftshader',
           '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 600 },
  });
  const problems = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
    page.on('dialog', async (d) => { problems.push('dialog: ' + d.message()); await d.dismiss(); });
    const check = (cond, msg) => {
      if (problems.length) fail(problems.join('; '));
      if (!cond) fail(msg);
      console.log('ok: ' + msg);
    };
    // speedscope loads #profileURL=... only over http(s): served from here,
    // nothing from the network.
    let profilePath = null;
    await page.route(ORIGIN + '/**', async (route) => {
      const u = new URL(route.request().url());
      const file = u.pathname === '/profile.json' ? profilePath : path.join(DIST, path.basename(u.pathname));
      if (!fs.existsSync(file)) return route.fulfill({ status: 404, body: 'not found' });
      return route.fulfill({ status: 200, body: fs.readFileSync(file),
                             contentType: TYPES[path.extname(file)] || 'application/octet-stream' });
    });
    for (const run of spec.runs) {
      profilePath = run.profile;
      await page.goto('about:blank');
      await page.goto(ORIGIN + '/index.html#profileURL=' + encodeURIComponent(ORIGIN + '/profile.json') +
                      '&view=time-ordered');
      await page.getByText(run.title, { exact: false }).first().waitFor();
      check(!(await page.getByText('Something went wrong').count()), 'speedscope imported ' + run.profile);
      check(await page.getByText('Time Order').count() > 0, 'Time Order view shown: ' + run.title);

      // The flame chart: the last canvas; hovering a bar shows a tooltip
      // placed at the mouse (style left/top):
      // <div><span>1.00s (50%)</span> name<div>file:line</div></div>.
      const box = await page.evaluate(() => {
        const cs = document.querySelectorAll('canvas');
        const r = cs[cs.length - 1].getBoundingClientRect();
        return { x: r.x, y: r.y, w: r.width, h: r.height };
      });
      const hover = async (x, y) => {
        await page.mouse.move(x, y);
        // The tooltip follows on speedscope's next frames.
        return page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => {
          const at = Array.from(document.querySelectorAll('div[style*="top:"]')).find((d) => d.querySelector('span'));
          const tip = at && at.firstElementChild;
          if (!tip) return done({ name: null });
          const span = tip.querySelector('span');
          const name = Array.from(tip.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent)
            .join('').trim();
          done({ name, length: span ? span.textContent.replace(/\s*\(.*\)$/, '') : '' });
        }))));
      };
      // Rows are 20 px from the top of the chart, under the time axis.
      const rowY = (k) => box.y + 30 + 20 * k;
      const rows = Math.min(12, Math.floor((box.h - 30) / 20));
      const names = spec.phases.map((p) => p.name);
      // The row of the phases' functions: the first hovered at a quarter of
      // the width that names the first phase.
      let row = -1;
      for (let k = 0; k < rows && row < 0; k++) {
        const h = await hover(box.x + box.w * 0.25, rowY(k));
        if (h.name === names[0]) row = k;
      }
      check(row >= 0, 'a bar named ' + names[0] + ' a quarter of the way in');
      // Along that row, left to right, three points inside each phase's
      // expected span: which bar each falls in (the run's start and end
      // around the phases are short).
      const total = spec.phases.reduce((t, p) => t + p.seconds, 0);
      const points = [];
      let from = 0;
      for (const p of spec.phases) {
        for (const f of [0.2, 0.5, 0.8]) points.push((from + f * p.seconds) / total);
        from += p.seconds;
      }
      const seen = [];
      for (const at of points) {
        const h = await hover(box.x + box.w * at, rowY(row));
        const last = seen[seen.length - 1];
        if (!last || last.name !== h.name)
          seen.push({ name: h.name, from: at, to: at, seconds: seconds(h.length || ''), length: h.length });
        else
          last.to = at;
      }
      const order = seen.map((s) => s.name);
      console.log('row ' + row + ': ' + JSON.stringify(seen));
      check(JSON.stringify(order) === JSON.stringify(names),
            'in time order: ' + names.join(' then ') + ' (drawn: ' + order.join(', ') + ')');
      for (let i = 0; i < spec.phases.length; i++) {
        const want = spec.phases[i].seconds, got = seen[i].seconds;
        check(Math.abs(got - want) <= want * spec.tolerance,
              spec.phases[i].name + ' lasts ' + seen[i].length + ' (about ' + want + ' s)');
      }
    }
    if (process.env.PYPERF_SCREENSHOT)
      await page.screenshot({ path: process.env.PYPERF_SCREENSHOT });
    console.log('PASS');
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.log('FAIL: ' + (e.isCheck ? e.message : e.stack || e));
  process.exit(1);
});
