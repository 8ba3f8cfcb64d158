/** A dependency-free horizontal bar chart (baselines grey, PCM blue). */
export interface Bar {
  label: string;
  value: number;
  baseline: boolean;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function barChartSvg(title: string, subtitle: string, bars: Bar[]): string {
  const width = 760;
  const labelW = 260;
  const barH = 22;
  const gap = 8;
  const top = 56;
  const height = top + bars.length * (barH + gap) + 20;
  const max = Math.max(1e-9, ...bars.map((b) => b.value));
  const plotW = width - labelW - 110;
  const rows = bars.map((b, i) => {
    const y = top + i * (barH + gap);
    const w = Math.max(1, (b.value / max) * plotW);
    const v = b.value >= 100 ? Math.round(b.value).toLocaleString('en-US') : String(Math.round(b.value * 1000) / 1000);
    return (
      `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>` +
      `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.baseline ? '#9aa0a6' : '#1a73e8'}"/>` +
      `<text x="${labelW + w + 6}" y="${y + 15}">${esc(v)}</text>`
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">` +
    `<rect width="100%" height="100%" fill="white"/>` +
    `<text x="12" y="22" font-size="15" font-weight="bold">${esc(title)}</text>` +
    `<text x="12" y="40" fill="#555">${esc(subtitle)} — grey: baseline, blue: PCM</text>` +
    rows.join('') +
    `</svg>\n`
  );
}

/** One named series of per-step values (e.g. arrivals per second). */
export interface Series {
  name: string;
  points: number[];
}

const PALETTE = ['#1a73e8', '#e8710a', '#188038', '#a142f4', '#d93025'];

/** A dependency-free line chart: x = step index (`xLabel`), one polyline per series. */
export function lineChartSvg(title: string, subtitle: string, xLabel: string, series: Series[]): string {
  const width = 760;
  const height = 360;
  const left = 64;
  const right = 16;
  const top = 56;
  const bottom = 48;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const steps = Math.max(2, ...series.map((s) => s.points.length));
  const max = Math.max(1, ...series.flatMap((s) => s.points));
  const x = (i: number) => left + (i / (steps - 1)) * plotW;
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = Math.round(max * f);
    return `<line x1="${left}" x2="${width - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/><text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v.toLocaleString('en-US')}</text>`;
  });
  const xTicks = Array.from({ length: 6 }, (_, k) => Math.round((k / 5) * (steps - 1))).map((i) => `<text x="${x(i).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${i}</text>`);
  const lines = series.map((s, k) => {
    const pts = s.points.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    const color = PALETTE[k % PALETTE.length];
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"/><rect x="${left + 8}" y="${top + 6 + k * 18}" width="12" height="12" fill="${color}"/><text x="${left + 26}" y="${top + 16 + k * 18}">${esc(s.name)}</text>`;
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">` +
    `<rect width="100%" height="100%" fill="white"/>` +
    `<text x="12" y="22" font-size="15" font-weight="bold">${esc(title)}</text>` +
    `<text x="12" y="40" fill="#555">${esc(subtitle)}</text>` +
    ticks.join('') +
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#999"/><line x1="${left}" x2="${width - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#999"/>` +
    xTicks.join('') +
    `<text x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle" fill="#555">${esc(xLabel)}</text>` +
    lines.join('') +
    `</svg>\n`
  );
}
