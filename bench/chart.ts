// A dependency-free SVG of the headline figures: fresh-process round trips
// next to their peers, and every target as "measured / target" (1.0 = just
// met, left of the line = met).

export interface Bar {
  label: string;
  value: number;
  /** Shown after the bar. */
  text: string;
  highlight?: boolean;
}

export interface TargetBar {
  label: string;
  /** measured / target, oriented so that <= 1 meets the target. */
  ratio: number;
  text: string;
}

const WIDTH = 860;
const LABEL_WIDTH = 360;
const BAR_AREA = 330;
const ROW = 22;
const FAMILY = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'";
const FONT = `${FAMILY} font-size='11'`;

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function panel(title: string, y: number, rows: { label: string; width: number; text: string; color: string }[], extra = ""): { svg: string; height: number } {
  let svg = `<text x='10' y='${y + 16}' ${FONT} font-weight='bold'>${escapeXml(title)}</text>\n`;
  rows.forEach((row, i) => {
    const top = y + 28 + i * ROW;
    svg += `<text x='${LABEL_WIDTH - 8}' y='${top + 13}' ${FONT} text-anchor='end'>${escapeXml(row.label)}</text>\n`;
    svg += `<rect x='${LABEL_WIDTH}' y='${top + 2}' width='${Math.max(1, row.width).toFixed(1)}' height='${ROW - 6}' fill='${row.color}'/>\n`;
    svg += `<text x='${LABEL_WIDTH + Math.max(1, row.width) + 6}' y='${top + 13}' ${FONT}>${escapeXml(row.text)}</text>\n`;
  });
  return { svg: svg + extra, height: 28 + rows.length * ROW + 16 };
}

export function drawChart(options: { title: string; subtitle: string; roundTrips: Bar[]; targets: TargetBar[] }): string {
  let y = 44;
  let body = "";

  const maxMs = Math.max(...options.roundTrips.map((b) => b.value), 1e-9);
  const trips = panel(
    "Fresh process round trip of /bin/true, spawner warm (median ms)",
    y,
    options.roundTrips.map((b) => ({
      label: b.label,
      width: (b.value / maxMs) * BAR_AREA,
      text: b.text,
      color: b.highlight ? "#2f6fb0" : "#9aa5b1",
    })),
  );
  body += trips.svg;
  y += trips.height;

  // Ratios above 2.5 are clipped so one bad figure does not flatten the rest.
  const CLIP = 2.5;
  const scale = BAR_AREA / CLIP;
  const rowsTop = y + 28;
  const line = `<line x1='${LABEL_WIDTH + scale}' y1='${rowsTop}' x2='${LABEL_WIDTH + scale}' y2='${rowsTop + options.targets.length * ROW}' stroke='#222' stroke-dasharray='4 3'/>\n` +
    `<text x='${LABEL_WIDTH + scale}' y='${rowsTop - 3}' ${FONT} text-anchor='middle'>target</text>\n`;
  const targets = panel(
    "Targets: measured / target (left of the line = met)",
    y,
    options.targets.map((t) => ({
      label: t.label,
      width: Math.min(t.ratio, CLIP) * scale,
      text: t.ratio > CLIP ? `${t.text} (bar cut)` : t.text,
      color: t.ratio <= 1 ? "#3a8f4b" : "#c0392b",
    })),
    line,
  );
  body += targets.svg;
  y += targets.height;

  return `<svg xmlns='http://www.w3.org/2000/svg' width='${WIDTH}' height='${y}' viewBox='0 0 ${WIDTH} ${y}'>
<rect width='100%' height='100%' fill='white'/>
<text x='10' y='20' ${FAMILY} font-size='15' font-weight='bold'>${escapeXml(options.title)}</text>
<text x='10' y='36' ${FONT} fill='#555'>${escapeXml(options.subtitle)}</text>
${body}</svg>
`;
}
