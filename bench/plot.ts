/**
 * Draws the scale figures (from `bench/scale.bench.ts --json FILE`) as an SVG with no dependencies:
 * left, IPMI and Redfish latency (p50 and p99) against the number of BMCs; right, the agent's
 * resident memory against the number of BMCs, with the 150 MiB aim.
 *
 *   node --import tsx bench/plot.ts [bench/results/scale.json] [docs/performance-scale.svg]
 *   node --import tsx bench/plot.ts bench/results/scale.json --markdown   (the table for the docs)
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface Point {
  bmcs: number;
  rssIdleMiB: number;
  /** Absent in results written before the paced phase existed. */
  rssPacedMiB?: number;
  rssLoadedMiB: number;
  ipmi: { p50: number; p99: number };
  redfish: { p50: number; p99: number };
}

const W = 860;
const H = 360;
const PANEL = { w: 340, h: 250, top: 50, lefts: [70, 500] };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

export function plotSvg(points: readonly Point[], subtitle: string): string {
  const xs = points.map((p) => p.bmcs);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const lx = (v: number, left: number) =>
    left +
    (xMax === xMin
      ? PANEL.w / 2
      : ((Math.log10(v) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * PANEL.w);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    '<title>One kubevirtbmc agent serving N BMCs: latency and memory against N</title>',
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">One kubevirtbmc agent serving N BMCs</text>`,
    `<text x="${W / 2}" y="34" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`,
  );
  const panel = (
    left: number,
    title: string,
    yLabel: string,
    series: Array<{ name: string; color: string; dash?: string; values: number[] }>,
    hline?: { value: number; label: string },
  ) => {
    const all = series
      .flatMap((s) => s.values)
      .filter((v) => Number.isFinite(v))
      .concat(hline ? [hline.value] : []);
    const yMax = niceMax(Math.max(...all));
    const y = (v: number) => PANEL.top + PANEL.h - (v / yMax) * PANEL.h;
    out.push(
      `<text x="${left + PANEL.w / 2}" y="${PANEL.top - 6}" text-anchor="middle" font-size="12">${esc(title)}</text>`,
    );
    out.push(
      `<rect x="${left}" y="${PANEL.top}" width="${PANEL.w}" height="${PANEL.h}" fill="none" stroke="#999"/>`,
    );
    for (let k = 0; k <= 4; k++) {
      const v = (yMax * k) / 4;
      out.push(
        `<line x1="${left}" x2="${left + PANEL.w}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`,
        `<text x="${left - 4}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`,
      );
    }
    for (const x of xs)
      out.push(
        `<line x1="${lx(x, left)}" x2="${lx(x, left)}" y1="${PANEL.top + PANEL.h}" y2="${PANEL.top + PANEL.h + 4}" stroke="#999"/>`,
        `<text x="${lx(x, left)}" y="${PANEL.top + PANEL.h + 16}" text-anchor="middle">${x}</text>`,
      );
    out.push(
      `<text x="${left + PANEL.w / 2}" y="${PANEL.top + PANEL.h + 32}" text-anchor="middle">BMCs (log scale)</text>`,
      `<text transform="translate(${left - 44},${PANEL.top + PANEL.h / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
    );
    if (hline)
      out.push(
        `<line x1="${left}" x2="${left + PANEL.w}" y1="${y(hline.value)}" y2="${y(hline.value)}" stroke="#c00" stroke-dasharray="2,3"/>`,
        `<text x="${left + PANEL.w - 4}" y="${y(hline.value) - 4}" text-anchor="end" fill="#c00">${esc(hline.label)}</text>`,
      );
    series.forEach((s, k) => {
      const pts = s.values
        .map((v, i) => (Number.isFinite(v) ? `${lx(xs[i]!, left).toFixed(1)},${y(v).toFixed(1)}` : ''))
        .filter((p) => p.length > 0)
        .join(' ');
      out.push(
        `<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
      );
      for (const p of pts.split(' ')) {
        const [cx, cy] = p.split(',');
        out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`);
      }
      out.push(
        `<line x1="${left + 8}" x2="${left + 28}" y1="${PANEL.top + 14 + k * 14}" y2="${PANEL.top + 14 + k * 14}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
        `<text x="${left + 32}" y="${PANEL.top + 18 + k * 14}">${esc(s.name)}</text>`,
      );
    });
  };
  const ms = (v: number) => v / 1000;
  panel(PANEL.lefts[0]!, 'Latency while every BMC is polled', 'milliseconds', [
    { name: 'IPMI p50', color: '#1f77b4', values: points.map((p) => ms(p.ipmi.p50)) },
    { name: 'IPMI p99', color: '#1f77b4', dash: '5,3', values: points.map((p) => ms(p.ipmi.p99)) },
    { name: 'Redfish p50', color: '#ff7f0e', values: points.map((p) => ms(p.redfish.p50)) },
    { name: 'Redfish p99', color: '#ff7f0e', dash: '5,3', values: points.map((p) => ms(p.redfish.p99)) },
  ]);
  panel(
    PANEL.lefts[1]!,
    'Agent resident memory',
    'MiB',
    [
      { name: 'RSS idle', color: '#2ca02c', values: points.map((p) => p.rssIdleMiB) },
      {
        name: 'RSS, each BMC polled every 2 s (paced)',
        color: '#17becf',
        values: points.map((p) => p.rssPacedMiB ?? Number.NaN),
      },
      {
        name: 'RSS after flat-out polling',
        color: '#9467bd',
        dash: '5,3',
        values: points.map((p) => p.rssLoadedMiB),
      },
    ],
    { value: 150, label: 'aim: 150 MiB' },
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  return v >= 100
    ? v.toFixed(0)
    : v >= 10
      ? v.toFixed(1).replace(/\.0$/, '')
      : v.toFixed(2).replace(/\.?0+$/, '');
}

if (
  process.argv[1] &&
  new URL(import.meta.url).pathname === process.argv[1] &&
  !process.argv.includes('--markdown')
) {
  const input = process.argv[2] ?? 'bench/results/scale.json';
  const output = process.argv[3] ?? 'docs/performance-scale.svg';
  const data = JSON.parse(readFileSync(input, 'utf8')) as { when: string; points: Point[] };
  writeFileSync(output, plotSvg(data.points, data.when));
  console.log(`wrote ${output} from ${input}`);
}

/** The scale figures as a Markdown table (for docs/performance.md). */
export function scaleTable(
  points: readonly (Point & {
    startupSeconds: number;
    ipmi: { count: number; seconds: number };
    redfish: { count: number; seconds: number };
    pollRequests: number;
    wrongPower: number;
  })[],
): string {
  const us = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(1)} ms` : `${x.toFixed(0)} µs`);
  const lines = [
    '| BMCs | all answering after | RSS idle / paced / flat out | added per BMC (vs the smallest N) | IPMI req/s, p50 / p99 | Redfish req/s, p50 / p99 | API requests while polled | wrong power |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const first = points[0]!;
  for (const p of points)
    lines.push(
      `| ${p.bmcs} | ${p.startupSeconds.toFixed(1)} s | ${p.rssIdleMiB.toFixed(0)} / ${p.rssPacedMiB?.toFixed(0) ?? '-'} / ${p.rssLoadedMiB.toFixed(0)} MiB | ${p === first ? '-' : `${(((p.rssIdleMiB - first.rssIdleMiB) * 1024) / (p.bmcs - first.bmcs)).toFixed(0)} KiB`} | ${(p.ipmi.count / p.ipmi.seconds).toFixed(0)}, ${us(p.ipmi.p50)} / ${us(p.ipmi.p99)} | ${(p.redfish.count / p.redfish.seconds).toFixed(0)}, ${us(p.redfish.p50)} / ${us(p.redfish.p99)} | ${p.pollRequests} | ${p.wrongPower} |`,
    );
  return lines.join('\n');
}

if (
  process.argv[1] &&
  new URL(import.meta.url).pathname === process.argv[1] &&
  process.argv.includes('--markdown')
) {
  const data = JSON.parse(readFileSync(process.argv[2] ?? 'bench/results/scale.json', 'utf8'));
  console.log(scaleTable(data.points));
}
