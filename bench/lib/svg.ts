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
