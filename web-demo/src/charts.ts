// The report's two charts with ECharts (only the parts used are bundled): the key namespaces as a
// zoomable treemap (click a prefix to zoom in, the breadcrumb to go back) and keys per TTL bucket.
import { BarChart, TreemapChart } from 'echarts/charts';
import { GridComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import { formatBytes, formatCount, formatShare, type PrefixNode, type RdbReport } from '../../src/browser.js';

echarts.use([TreemapChart, BarChart, GridComponent, TooltipComponent, CanvasRenderer]);

interface TreeItem {
  name: string;
  value: number;
  keys: number;
  prefix: string;
  children?: TreeItem[];
}

/** A prefix's children, plus what its keys not under a listed child take, so areas add up. */
function items(node: PrefixNode): TreeItem[] {
  const children = node.children.map((c): TreeItem => ({
    name: c.prefix.slice(node.prefix.length) || c.prefix,
    value: c.memory,
    keys: c.keys,
    prefix: c.prefix,
    children: c.children.length > 0 ? items(c) : undefined,
  }));
  const rest = node.memory - node.children.reduce((n, c) => n + c.memory, 0);
  const restKeys = node.keys - node.children.reduce((n, c) => n + c.keys, 0);
  if (rest > 0 && children.length > 0) children.push({ name: '(other keys)', value: rest, keys: restKeys, prefix: `${node.prefix}…` });
  return children;
}

const cssVar = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export class Charts {
  private readonly charts: echarts.ECharts[] = [];

  constructor() {
    addEventListener('resize', () => { for (const c of this.charts) c.resize(); });
  }

  dispose(): void {
    for (const c of this.charts) c.dispose();
    this.charts.length = 0;
  }

  private init(el: HTMLElement): echarts.ECharts {
    const chart = echarts.init(el, document.documentElement.dataset.theme === 'dark' ? 'dark' : undefined, { renderer: 'canvas' });
    this.charts.push(chart);
    return chart;
  }

  prefixes(el: HTMLElement, report: RdbReport): void {
    const total = report.totals.memory;
    this.init(el).setOption({
      backgroundColor: 'transparent',
      tooltip: {
        formatter: (p: { data: TreeItem }) =>
          `${escapeHtml(p.data.prefix)}<br>${formatBytes(p.data.value)} (${formatShare(p.data.value, total)}), ${formatCount(p.data.keys)} keys`,
      },
      series: [{
        type: 'treemap',
        name: 'all keys',
        roam: 'move',
        nodeClick: 'zoomToNode',
        leafDepth: 2,
        data: items(report.prefixes.root),
        label: { show: true, formatter: '{b}' },
        upperLabel: { show: true, height: 22 },
        breadcrumb: { show: true, itemStyle: { color: cssVar('--panel'), textStyle: { color: cssVar('--text') } } },
        levels: [
          { itemStyle: { borderColor: cssVar('--line'), borderWidth: 2, gapWidth: 2 } },
          { itemStyle: { borderColor: cssVar('--line'), borderWidth: 1, gapWidth: 1 } },
        ],
      }],
    });
  }

  ttl(el: HTMLElement, report: RdbReport): void {
    this.init(el).setOption({
      backgroundColor: 'transparent',
      tooltip: { trigger: 'axis' },
      grid: { left: 60, right: 16, top: 16, bottom: 40 },
      xAxis: { type: 'category', data: report.ttl.map((b) => b.bucket) },
      yAxis: { type: 'value', name: 'keys' },
      series: [{ type: 'bar', data: report.ttl.map((b) => b.keys), itemStyle: { color: cssVar('--bar') } }],
    });
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
