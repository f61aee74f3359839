// Drives a `pyperf annotate --html` page in headless Debian chromium: it
// loads without errors, the list of files is sorted by share, clicking a
// file shows its listing (and only it) with the hot line highlighted and in
// view, and hostile names and source text stay text.
//
// usage: node annotate.test.js HTML_PATH SPEC_JSON
// SPEC_JSON (written by tests/e2e/test_annotate.py): {"chromium", "files":
// [paths in the expected order], "click": index of the file to click,
// "hotLine": its hot line's number, "hotText": that line's source,
// "hostile": [texts that must appear literally]}. Prints "ok: ..." per
// check; exits 1 with "FAIL: ..." on the first failed one.
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

async function main() {
  const [htmlPath, specPath] = process.argv.slice(2);
  if (!htmlPath || !specPath) {
    console.error('usage: node annotate.test.js HTML_PATH SPEC_JSON');
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
  const requests = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(15000);
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
    page.on('dialog', async (d) => { problems.push('unexpected dialog: ' + d.message()); await d.dismiss(); });
    page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
    const check = (cond, msg) => {
      if (problems.length) fail(problems.join('; '));
      if (!cond) fail(msg);
      console.log('ok: ' + msg);
    };
    await page.goto('file://' + path.resolve(htmlPath));
    await page.waitForLoadState('load');
    check(true, 'page loads without errors');

    const list = await page.evaluate(() => Array.from(document.querySelectorAll('#files tbody tr')).map((tr) => ({
      path: tr.querySelector('a').textContent,
      total: Number(tr.getAttribute('data-total')),
      id: tr.getAttribute('data-id'),
    })));
    check(JSON.stringify(list.map((x) => x.path)) === JSON.stringify(spec.files),
          'files listed in the expected order: ' + JSON.stringify(list.map((x) => x.path)));
    check(list.every((x, i) => i === 0 || list[i - 1].total >= x.total), 'list sorted by total share');
    const visible = () => page.evaluate(() => Array.from(document.querySelectorAll('section.file'))
      .filter((s) => !s.hidden && s.offsetParent !== null).map((s) => s.id));
    check(JSON.stringify(await visible()) === JSON.stringify([list[0].id]), 'the hottest file shown first');

    const target = list[spec.click];
    await page.click('#files tbody tr:nth-child(' + (spec.click + 1) + ') a');
    check(JSON.stringify(await visible()) === JSON.stringify([target.id]), 'a click shows that file only');
    const hot = await page.evaluate((id) => {
      const tr = document.querySelector('#' + id + ' tr.hottest');
      if (!tr) return null;
      const r = tr.getBoundingClientRect();
      const main = document.querySelector('main').getBoundingClientRect();
      return {
        id: tr.id,
        cls: tr.className,
        bg: getComputedStyle(tr).backgroundColor,
        outline: getComputedStyle(tr).outlineStyle,
        code: tr.querySelector('td.code').textContent,
        inView: r.top >= main.top && r.bottom <= main.bottom && r.height > 0,
      };
    }, target.id);
    check(hot !== null, 'the file has a hottest line');
    check(hot.id === target.id + '-' + spec.hotLine, 'the hottest line is line ' + spec.hotLine + ' (' + hot.id + ')');
    check(hot.cls.split(' ').includes('hot') && hot.outline === 'solid' &&
          hot.bg !== 'rgba(0, 0, 0, 0)' && hot.bg !== 'transparent', 'it is highlighted (' + hot.bg + ')');
    check(hot.code === spec.hotText, 'with its source: ' + JSON.stringify(hot.code));
    check(hot.inView, 'and scrolled into view');
    const ids = await page.evaluate(() => location.hash);
    check(ids === '#' + target.id, 'the URL names the file shown');

    const text = await page.evaluate(() => document.body.textContent);
    for (const h of spec.hostile) check(text.includes(h), 'hostile text shown as text: ' + JSON.stringify(h));
    const injected = await page.evaluate(() => document.querySelectorAll('script').length +
      document.querySelectorAll('img, iframe, b.evil').length);
    check(injected === 1, 'no element injected by names or source (' + injected + ' script/img/iframe)');
    check(requests.length === 0, 'no request leaves the file: ' + requests.join(' '));
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
