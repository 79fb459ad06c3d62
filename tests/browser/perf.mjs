// Page weight and first paint of Rapport's main pages, measured in the browser.
//
// Each page is opened in a fresh browser context (an empty HTTP cache, the signed-in
// cookies copied over), so its weight is everything a first visit downloads before images:
// the document plus every script, stylesheet and fetch (PerformanceResourceTiming's
// transferSize, or encodedBodySize where the transfer size is hidden, plus the headers
// estimate the browser includes). First contentful paint comes from
// performance.getEntriesByType("paint"). Weight is deterministic and may be asserted; paint
// times depend on the machine and are only reported.
//
// Used by run.mjs (the step "page weight and first paint"); the table is printed and written
// to target/screenshots/perf.json.

/// The most a page may weigh before images (issue 6: 200 KB).
export const MAX_PAGE_BYTES = 200 * 1024;

// Measures the page at `url` in a new context carrying `storageState` (null: signed out).
async function measure(browser, storageState, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, storageState: storageState || undefined });
  try {
    const page = await context.newPage();
    const response = await page.goto(url, { waitUntil: "load" });
    // The live pages open a stream and the script may fetch; let those settle.
    await page.waitForTimeout(300);
    const figures = await page.evaluate(() => {
      const size = (entry) => (entry.transferSize > 0 ? entry.transferSize : entry.encodedBodySize || 0);
      const navigation = performance.getEntriesByType("navigation")[0];
      const resources = performance.getEntriesByType("resource");
      const images = resources.filter((r) => r.initiatorType === "img" || r.initiatorType === "image" || /\.(png|jpe?g|gif|webp|svg|ico)(\?|$)/i.test(r.name));
      const counted = resources.filter((r) => !images.includes(r));
      const paint = performance.getEntriesByType("paint").find((p) => p.name === "first-contentful-paint");
      return {
        documentBytes: navigation ? size(navigation) : 0,
        resourceBytes: counted.reduce((sum, r) => sum + size(r), 0),
        resources: counted.length,
        imageBytes: images.reduce((sum, r) => sum + size(r), 0),
        firstContentfulPaintMs: paint ? paint.startTime : null,
        domContentLoadedMs: navigation ? navigation.domContentLoadedEventEnd : null,
      };
    });
    return { status: response ? response.status() : 0, ...figures, totalBytes: figures.documentBytes + figures.resourceBytes };
  } finally {
    await context.close();
  }
}

/// Opens each `{ name, url, as }` page (as: a key of `sessions`, or null for signed out),
/// and returns one row per page.
export async function measurePages(browser, base, sessions, pages) {
  const rows = [];
  for (const entry of pages) {
    const state = entry.as ? sessions[entry.as] : null;
    const figures = await measure(browser, state, `${base}${entry.url}`);
    rows.push({ page: entry.name, url: entry.url, ...figures });
  }
  return rows;
}

/// The table printed by the browser suite.
export function formatTable(rows) {
  const kb = (bytes) => (bytes / 1024).toFixed(1);
  const ms = (value) => (value === null || value === undefined ? "n/a" : value.toFixed(0));
  const header = ["page", "status", "first paint ms", "DOM ready ms", "weight KB", "document KB", "requests"];
  const lines = rows.map((r) => [r.page, String(r.status), ms(r.firstContentfulPaintMs), ms(r.domContentLoadedMs), kb(r.totalBytes), kb(r.documentBytes), String(r.resources + 1)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [format(header), format(widths.map((w) => "-".repeat(w))), ...lines.map(format)].join("\n");
}
