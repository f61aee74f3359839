// Drives a pyperf flame graph SVG in headless Debian chromium: hover, click
// to zoom, search (valid and invalid regex), reset, state kept in the URL,
// and no script injection from hostile frame names.
//
// usage: node flamegraph.test.js SVG_PATH SPEC_JSON
// SPEC_JSON (written by tests/e2e/test_flamegraph_browser.py) names the
// frames to use and the numbers to expect. Prints "ok: ..." per check;
// exits 1 with "FAIL: ..." on the first failed one.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const WAIT_MS = 15000;

function fail(msg) {
  const err = new Error(msg);
  err.isCheck = true;
  throw err;
}

function near(a, b, tol) {
  return Math.abs(a - b) <= tol;
}

async function main() {
  const [svgPath, specPath] = process.argv.slice(2);
  if (!svgPath || !specPath) {
    console.error('usage: node flamegraph.test.js SVG_PATH SPEC_JSON');
    process.exit(2);
  }
  const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
  const url = 'file://' + path.resolve(svgPath);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyperf-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: spec.chromium || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1300, height: 700 },
  });
  const problems = [];      // page errors, unexpected dialogs
  const promptAnswers = []; // queued answers for window.prompt
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
    page.on('dialog', async (d) => {
      if (d.type() === 'prompt' && promptAnswers.length > 0) {
        await d.accept(promptAnswers.shift());
      } else {
        problems.push('unexpected ' + d.type() + ' dialog: ' + d.message());
        await d.dismiss();
      }
    });
    const check = (cond, msg) => {
      if (problems.length) fail(problems.join('; '));
      if (!cond) fail(msg);
      console.log('ok: ' + msg);
    };

    await page.goto(url);
    await page.waitForFunction(() => document.documentElement.getAttribute('data-ready') === '1');
    check(true, 'loaded ' + url);

    // Frame geometry and labels, by exact name.
    const frameInfo = (name) => page.evaluate((name) => {
      const groups = document.querySelectorAll('#frames > g');
      for (let i = 0; i < groups.length; i++) {
        const g = groups[i];
        const title = g.querySelector('title').textContent;
        const cut = title.lastIndexOf(' (');
        if (title.slice(0, cut) !== name) continue;
        const rect = g.querySelector('rect');
        const text = g.querySelector('text');
        return {
          index: i, title, hidden: getComputedStyle(g).display === 'none',
          parent: g.classList.contains('parent'),
          x: Number(rect.getAttribute('x')), width: Number(rect.getAttribute('width')),
          fill: rect.getAttribute('fill'), label: text ? text.textContent : '',
        };
      }
      return null;
    }, name);
    const rectOf = async (name) => {
      const f = await frameInfo(name);
      if (!f) fail('no frame named ' + JSON.stringify(name));
      return page.locator('#frames > g').nth(f.index).locator('rect');
    };
    const textOf = (id) => page.evaluate((id) => document.getElementById(id).textContent, id);
    const waitText = (id, want) => page.waitForFunction(
      ([id, want]) => document.getElementById(id).textContent === want, [id, want]);

    // Hostile names are text, not code: the title holds them verbatim.
    for (const name of spec.hostile) {
      const f = await frameInfo(name);
      check(f !== null && f.title.startsWith(name + ' ('), 'hostile name shown as text: ' + JSON.stringify(name));
    }
    const scripts = await page.evaluate(() => document.querySelectorAll('script').length);
    check(scripts === 1, 'exactly one script element in the document');

    // Hover shows "name (N samples, P%)".
    await (await rectOf(spec.zoom)).hover();
    await waitText('details', spec.zoomTitle);
    check(true, 'hover shows ' + JSON.stringify(spec.zoomTitle));

    // Click to zoom.
    const before = {};
    for (const name of [spec.zoom, ...spec.zoomChildren.map((c) => c.name), spec.sibling])
      before[name] = await frameInfo(name);
    const longName = spec.zoomChildren[0].name;
    check(before[longName].label.endsWith('..'), 'long child label is trimmed before zoom: ' +
          JSON.stringify(before[longName].label));
    await (await rectOf(spec.zoom)).click();
    await page.waitForFunction(([name, usable]) => {
      for (const g of document.querySelectorAll('#frames > g')) {
        const t = g.querySelector('title').textContent;
        if (t.slice(0, t.lastIndexOf(' (')) === name)
          return Number(g.querySelector('rect').getAttribute('width')) > usable - 1;
      }
      return false;
    }, [spec.zoom, spec.usable]);
    const zoomed = await frameInfo(spec.zoom);
    check(near(zoomed.x, spec.xpad, 0.06) && near(zoomed.width, spec.usable, 0.06),
          'zoomed frame spans the width: x=' + zoomed.x + ' width=' + zoomed.width);
    for (const c of spec.zoomChildren) {
      const f = await frameInfo(c.name);
      const want = spec.usable * c.samples / spec.zoomSamples;
      check(!f.hidden && near(f.width, want, 0.06) && f.width > before[c.name].width + 1,
            'child ' + JSON.stringify(c.name) + ' widened ' + before[c.name].width + ' -> ' + f.width +
            ' (want ' + want.toFixed(1) + ')');
    }
    const zoomedLong = await frameInfo(longName);
    check(zoomedLong.label === longName, 'long child label now shows the whole name: ' +
          JSON.stringify(zoomedLong.label));
    check((await frameInfo(spec.sibling)).hidden, 'sibling outside the zoom is hidden');
    const rootInfo = await frameInfo('all');
    check(rootInfo.parent && near(rootInfo.width, spec.usable, 0.06), 'root shown as a caller, full width');
    check(await page.evaluate(() => !document.getElementById('unzoom').classList.contains('hide')),
          'Reset Zoom is offered');
    check(page.url().includes('zoom='), 'zoom kept in the URL: ' + page.url());

    // Search with a regex: highlight and "Matched: P%".
    const fillsBefore = {};
    for (const name of spec.searchHits) fillsBefore[name] = (await frameInfo(name)).fill;
    promptAnswers.push(spec.search);
    await page.locator('#search').click();
    await waitText('matched', spec.matched);
    check(true, 'search ' + JSON.stringify(spec.search) + ' shows ' + JSON.stringify(spec.matched));
    for (const name of spec.searchHits)
      check((await frameInfo(name)).fill === 'rgb(230,0,230)', 'match highlighted: ' + JSON.stringify(name));
    check((await frameInfo(spec.zoom)).fill !== 'rgb(230,0,230)', 'non-match not highlighted');
    check(await textOf('search') === 'Reset Search', 'search button offers a reset');

    // Clicking again resets the search; an invalid regex is reported, not thrown.
    await page.locator('#search').click();
    await waitText('search', 'Search');
    for (const name of spec.searchHits)
      check((await frameInfo(name)).fill === fillsBefore[name], 'search reset restores the colour of ' +
            JSON.stringify(name));
    promptAnswers.push('(unclosed');
    await page.keyboard.press('Control+f');
    await page.waitForFunction(() => document.getElementById('matched').textContent.startsWith('Invalid regex'));
    check(true, 'invalid regex reported: ' + JSON.stringify(await textOf('matched')));

    // Reset zoom brings every frame back to its first geometry.
    await page.locator('#unzoom').click();
    await page.waitForFunction(() => document.getElementById('unzoom').classList.contains('hide'));
    for (const name of Object.keys(before)) {
      const f = await frameInfo(name);
      check(!f.hidden && near(f.width, before[name].width, 0.06) && near(f.x, before[name].x, 0.06),
            'after reset ' + JSON.stringify(name) + ' is back at x=' + f.x + ' width=' + f.width);
    }
    check(!(await frameInfo('all')).parent, 'root no longer marked as a caller');

    // A link with zoom and search in the fragment restores that view.
    const zoomKey = await page.evaluate((i) => {
      const g = document.querySelectorAll('#frames > g')[i];
      return g.getAttribute('data-s') + ',' + g.querySelector('rect').getAttribute('y');
    }, zoomed.index);
    await page.goto('about:blank');
    await page.goto(url + '#zoom=' + zoomKey + '&search=' + encodeURIComponent(spec.search));
    await page.waitForFunction(() => document.documentElement.getAttribute('data-ready') === '1');
    await waitText('matched', spec.matched);
    const restored = await frameInfo(spec.zoom);
    check(near(restored.width, spec.usable, 0.06) && (await frameInfo(spec.sibling)).hidden,
          'URL fragment restores zoom and search');

    if (process.env.PYPERF_SCREENSHOT) {
      await page.screenshot({ path: process.env.PYPERF_SCREENSHOT });
      console.log('screenshot: ' + process.env.PYPERF_SCREENSHOT);
    }
    check(problems.length === 0, 'no page errors, no unexpected dialogs');
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().then(() => {
  console.log('PASS');
}, (err) => {
  console.log('FAIL: ' + (err.isCheck ? err.message : (err.stack || err)));
  process.exit(1);
});
