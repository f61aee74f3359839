// Drives a `pyperf diff -o diff.svg` flame graph in headless Debian chromium:
// each named frame has the colour of its verdict (red grew, blue shrank,
// grey noise) and a dashed outline when new; hovering it shows both values
// and the change in the details line; the subtitle states the test and
// the confidence; the functions gone are listed under the graph.
//
// usage: node diff.test.js SVG_PATH SPEC_JSON
// SPEC_JSON (written by tests/e2e/test_diff.py):
//   { chromium, subtitle: [substrings], notes: [substrings],
//     frames: [{ name, colour: "red"|"blue"|"grey", added: bool, hover: [substrings] }] }
// Prints "ok: ..." per check; exits 1 with "FAIL: ..." on the first failed one.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

function fail(msg) {
  const err = new Error(msg);
  err.isCheck = true;
  throw err;
}

function colourOf(fill) {
  const m = /rgb\((\d+),\s*(\d+),\s*(\d+)\)/.exec(fill || '');
  if (!m) return 'none';
  const [r, g, b] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (r === 255 && g === b && g < 222) return 'red';
  if (b === 255 && r === g && r < 222) return 'blue';
  if (r === 222 && g === 222 && b === 216) return 'grey';
  return 'other ' + fill;
}

async function main() {
  const [svgPath, specPath] = process.argv.slice(2);
  if (!svgPath || !specPath) {
    console.error('usage: node diff.test.js SVG_PATH SPEC_JSON');
    process.exit(2);
  }
  const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyperf-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: spec.chromium || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1300, height: 700 },
  });
  const problems = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(15000);
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
    const check = (cond, msg) => {
      if (problems.length) fail(problems.join('; '));
      if (!cond) fail(msg);
      console.log('ok: ' + msg);
    };
    await page.goto('file://' + path.resolve(svgPath));
    await page.waitForFunction(() => document.documentElement.getAttribute('data-ready') === '1');

    const subtitle = await page.evaluate(() => document.getElementById('subtitle').textContent);
    for (const s of spec.subtitle) check(subtitle.includes(s), 'subtitle says ' + JSON.stringify(s));
    const notes = await page.evaluate(
      () => Array.from(document.querySelectorAll('text.note')).map((t) => t.textContent).join('\n'));
    for (const s of spec.notes) check(notes.includes(s), 'notes under the graph say ' + JSON.stringify(s));

    for (const f of spec.frames) {
      const info = await page.evaluate((name) => {
        for (const g of document.querySelectorAll('#frames > g')) {
          const title = g.querySelector('title').textContent;
          if (title.slice(0, title.lastIndexOf(' (')) !== name) continue;
          const rect = g.querySelector('rect');
          const r = rect.getBoundingClientRect();
          return { fill: rect.getAttribute('fill'), dash: getComputedStyle(rect).strokeDasharray,
                   x: r.x + r.width / 2, y: r.y + r.height / 2, w: r.width };
        }
        return null;
      }, f.name);
      check(info !== null, 'frame ' + f.name + ' is drawn');
      check(colourOf(info.fill) === f.colour, f.name + ' is ' + f.colour + ' (' + info.fill + ')');
      const dashed = info.dash !== 'none' && info.dash !== '';
      check(dashed === f.added, f.name + (f.added ? ' has' : ' has no') + ' dashed outline (' + info.dash + ')');
      await page.mouse.move(info.x, info.y);
      await page.waitForFunction((name) => document.getElementById('details').textContent.startsWith(name + ' ('),
                                 f.name);
      const details = await page.evaluate(() => document.getElementById('details').textContent);
      for (const s of f.hover) check(details.includes(s), 'hovering ' + f.name + ' shows ' + JSON.stringify(s));
    }
    check(problems.length === 0, 'no page errors');
    console.log('PASS');
  } catch (e) {
    console.log('FAIL: ' + e.message);
    process.exitCode = 1;
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main();
