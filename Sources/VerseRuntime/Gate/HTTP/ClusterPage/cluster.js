// The cluster page: /api/v1/cluster every 2 s, drawn as tables, a strip of shard cells
// and the recent events. Text goes in with textContent only.
const $ = (id) => document.getElementById(id);
const palette = ['#2563eb', '#16a34a', '#ea580c', '#9333ea', '#0891b2', '#db2777', '#ca8a04', '#4f46e5', '#059669', '#dc2626'];
const colour = (index) => palette[index % palette.length];

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null ? '–' : String(text);
  if (className) td.className = className;
  return td;
}

function drawStrip(report) {
  const canvas = $('strip');
  const context = canvas.getContext('2d');
  const columns = 128, size = Math.floor(canvas.width / columns);
  const rows = Math.ceil(report.shardCount / columns);
  canvas.height = rows * size;
  const live = new Set(report.nodes.filter((n) => n.live).map((n) => report.nodes.indexOf(n)));
  let moving = 0;
  for (let shard = 0; shard < report.shardCount; shard++) {
    const owner = report.current[shard], target = report.target[shard];
    const x = (shard % columns) * size, y = Math.floor(shard / columns) * size;
    context.fillStyle = owner >= 0 && live.has(owner) ? colour(owner) : '#d1d5db';
    context.fillRect(x, y, size - 1, size - 1);
    if (target !== owner) {
      moving += 1;
      context.fillStyle = '#111827';
      context.fillRect(x + size / 2 - 1, y + size / 2 - 1, 2, 2);
    }
  }
  canvas.dataset.cells = String(report.shardCount);
  canvas.dataset.moving = String(moving);
  $('strip-caption').textContent = `${report.shardCount} shards, ${moving} moving`;
}

function render(report) {
  const state = !report.ready ? 'not-ready' : report.settled ? 'settled' : 'ready';
  $('state').dataset.state = state;
  $('state').textContent = state.replace('-', ' ');
  const liveNodes = report.nodes.filter((n) => n.live).length;
  $('summary').textContent = `map epoch ${report.epoch} · ${liveNodes} live nodes · ${report.gates.length} gates · ` +
    new Date(report.time).toLocaleTimeString();
  $('nodes').tBodies[0].replaceChildren(...report.nodes.map((node, index) => {
    const row = document.createElement('tr');
    row.dataset.address = node.address;
    row.dataset.live = String(node.live);
    const swatch = cell('', 'swatch');
    swatch.style.background = colour(index); // a CSSOM property, not markup: allowed by the CSP
    const status = !node.live ? 'gone' : node.unreachable ? 'live, not answering' : node.leader ? 'live, leader' : 'live';
    row.append(swatch, cell(node.address), cell(status), cell(node.serving), cell(node.targeted), cell(node.activeObjects));
    return row;
  }));
  $('gates').tBodies[0].replaceChildren(...report.gates.map((gate) => {
    const row = document.createElement('tr');
    row.dataset.address = gate.address;
    row.append(cell(gate.address), cell(gate.unreachable ? 'live, not answering' : 'live'), cell(gate.clients));
    return row;
  }));
  drawStrip(report);
  $('events').replaceChildren(...report.events.map((event) => {
    const item = document.createElement('li');
    const time = document.createElement('time');
    time.textContent = new Date(event.time).toLocaleTimeString();
    item.append(time, document.createTextNode(event.text));
    return item;
  }));
}

async function refresh() {
  try {
    const response = await fetch('/api/v1/cluster', { cache: 'no-store' });
    render(await response.json());
  } catch (error) {
    $('state').dataset.state = 'unreachable';
    $('state').textContent = 'gate unreachable';
  } finally {
    setTimeout(refresh, 2000);
  }
}

refresh();
