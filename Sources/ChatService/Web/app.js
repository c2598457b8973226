// The web chat client: sign in, rooms, live messages over the gate's event stream,
// catch-up by seq after any break, the CLI's /-commands. User text only ever goes into
// the page as text (textContent), never as HTML.
import * as chat from './chatproto.js';
import { Gate, GateError } from './gate.js';

const $ = (id) => document.getElementById(id);
const gate = new Gate(new URLSearchParams(location.search).get('api') || '');
const HELP = [
  '/list: the rooms', '/join <room>: enter a room', '/messages: the room\'s recent messages again',
  '/leave: leave the room', '/quit: sign out', '/help: this help', 'anything else: sent to the room',
];

const state = {
  user: null,
  rooms: [],
  room: null,      // the room joined (kept across reconnects)
  lastSeq: 0,      // the last seq shown in it
  pending: [],     // sends not yet acknowledged: { text, messageId }
  retry: 0,        // reconnect attempts since the last success
  reconnectTimer: null,
  chain: Promise.resolve(), // pushes and catch-ups, one at a time, in order
};

// --- session (sessionStorage: a reload of this tab signs in again and rejoins) ---

function saveSession() {
  if (!gate.credentials) return sessionStorage.removeItem('swiftverse-chat');
  sessionStorage.setItem('swiftverse-chat', JSON.stringify({ ...gate.credentials, room: state.room }));
}

function restoreSession() {
  try { return JSON.parse(sessionStorage.getItem('swiftverse-chat')); } catch { return null; }
}

// --- connection ---

function setConnection(label) {
  $('connection').dataset.state = label.replace('…', '');
  $('connection').textContent = label;
}

function connect() {
  clearTimeout(state.reconnectTimer);
  setConnection(state.retry ? 'reconnecting…' : 'connecting…');
  gate.openEvents({ onOpen: () => { onConnected().catch(onFailure); }, onPush, onLost });
}

function onLost() {
  if (!gate.credentials) return;
  setConnection('reconnecting…');
  // 0.5 s, 1 s, 2 s ... up to 15 s, with jitter so a restarted gate is not hit at once.
  const delay = Math.min(15000, 500 * 2 ** state.retry) * (0.75 + Math.random() / 2);
  state.retry += 1;
  state.reconnectTimer = setTimeout(connect, delay);
}

async function onConnected() {
  // The first authenticated call binds the stream's client id to this user (and checks
  // the password): ListChatRooms, which the room list needs anyway.
  state.rooms = chat.decodeListResponse(await gate.call('ChatRoomMgr', 'ChatRoomMgr0', 'ListChatRooms', chat.listRequest()));
  const wasReconnect = state.retry > 0;
  state.retry = 0;
  setConnection('connected');
  showSignedIn();
  renderRooms();
  if (state.room) await join(state.room, { rejoin: true, quiet: !wasReconnect });
  await flushPending();
}

function onFailure(error) {
  if (error instanceof GateError && error.status === 401) {
    signOut();
    $('signin-error').textContent = error.message;
    return;
  }
  if (error instanceof GateError && error.isTransient) {
    gate.closeEvents();
    return onLost();
  }
  notice(error.message);
}

// --- sign in / out ---

function signIn(user, password) {
  $('signin-error').textContent = '';
  gate.credentials = { user, password };
  state.user = user;
  connect();
}

function signOut() {
  clearTimeout(state.reconnectTimer);
  if (state.room) gate.call('ChatRoom', 'ChatRoom-' + state.room, 'Leave', chat.leaveRequest()).catch(() => {});
  gate.closeEvents();
  gate.credentials = null;
  Object.assign(state, { user: null, room: null, lastSeq: 0, pending: [], retry: 0 });
  saveSession();
  $('messages').replaceChildren();
  $('chat').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  $('whoami').textContent = '';
  setConnection('offline');
}

function showSignedIn() {
  $('signin').hidden = true;
  $('chat').hidden = false;
  $('signout').hidden = false;
  $('whoami').textContent = state.user;
  saveSession();
}

// --- rooms ---

function renderRooms() {
  $('rooms').replaceChildren(...state.rooms.map((name) => {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.room = name;
    button.textContent = name;
    button.classList.toggle('current', name === state.room);
    button.addEventListener('click', () => join(name).catch(onFailure));
    item.append(button);
    return item;
  }));
}

async function join(name, { rejoin = false, quiet = false } = {}) {
  if (!rejoin && state.room && state.room !== name) await leave({ quiet: true });
  const again = rejoin && name === state.room;
  const response = chat.decodeJoinResponse(
    await gate.call('ChatRoom', 'ChatRoom-' + name, 'Join', chat.joinRequest({ afterSeq: again ? state.lastSeq : 0 })));
  if (!again) {
    state.room = name;
    state.lastSeq = 0;
    $('messages').replaceChildren();
  }
  $('room-title').textContent = name;
  $('leave').hidden = false;
  renderRooms();
  saveSession();
  for (const message of response.recentMessages) show(message);
  if (!again || !quiet) system(again ? `back in ${name}` : `joined ${name}`);
  $('input').focus();
}

async function leave({ quiet = false } = {}) {
  if (!state.room) return notice('you are not in a room');
  const name = state.room;
  state.room = null;
  state.lastSeq = 0;
  saveSession();
  try { await gate.call('ChatRoom', 'ChatRoom-' + name, 'Leave', chat.leaveRequest()); } catch { /* gone with the stream anyway */ }
  $('room-title').textContent = 'Pick a room';
  $('leave').hidden = true;
  renderRooms();
  if (!quiet) system(`left ${name}`);
}

// --- messages ---

function onPush(type, payload) {
  let message;
  try { message = chat.decodeNotification(payload); } catch (error) { return notice('unreadable push: ' + error.message); }
  if (!message || !state.room) return;
  const room = state.room;
  state.chain = state.chain.then(() => receive(message, room)).catch(onFailure);
}

// A jump in seq means pushes were lost: fetch what came between first.
async function receive(message, room) {
  if (room !== state.room || message.seq <= state.lastSeq) return;
  if (state.lastSeq > 0 && message.seq > state.lastSeq + 1) {
    const missed = chat.decodeRecentResponse(await gate.call('ChatRoom', 'ChatRoom-' + room, 'GetRecentMessages',
      chat.recentRequest({ afterSeq: state.lastSeq, limit: Math.min(1000, message.seq - state.lastSeq - 1) })));
    if (room !== state.room) return;
    for (const earlier of missed) if (earlier.seq < message.seq) show(earlier);
  }
  show(message);
}

// Appends a message unless its seq was shown already (seq 0: a gate without seqs).
function show(message) {
  if (message.seq) {
    if (message.seq <= state.lastSeq) return;
    state.lastSeq = message.seq;
  }
  const item = document.createElement('li');
  item.className = 'message' + (message.userName === state.user ? ' own' : '');
  item.dataset.seq = String(message.seq);
  const time = document.createElement('span');
  time.className = 'time';
  time.textContent = new Date(message.timestamp / 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const user = document.createElement('span');
  user.className = 'user';
  user.textContent = message.userName;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = message.message;
  item.append(time, user, text);
  append(item);
}

function system(text) {
  const item = document.createElement('li');
  item.className = 'system';
  item.textContent = text;
  append(item);
}

function append(item) {
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(item);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function notice(text) {
  $('notice').textContent = text;
}

// --- sending ---

async function send(text) {
  if (!state.room) return notice('join a room first: pick one, or /join <room>');
  state.pending.push({ text, messageId: crypto.randomUUID(), room: state.room });
  await flushPending();
}

// Sends what is pending, oldest first, each with the id it was given: a send retried
// after a lost answer or a reconnect is stored once.
async function flushPending() {
  while (state.pending.length) {
    const next = state.pending[0];
    try {
      await gate.call('ChatRoom', 'ChatRoom-' + next.room, 'SendMessage', chat.sendRequest(next));
      state.pending.shift();
      notice('');
    } catch (error) {
      if (error instanceof GateError && error.isTransient) {
        notice('not connected: your message will be sent when the connection is back');
        return;
      }
      state.pending.shift();
      notice(`"${next.text}" was not sent: ${error.message}`);
    }
  }
}

// --- the input line: text, or a /-command as in the CLI ---

async function handleLine(line) {
  if (!line.trim()) return;
  if (!line.startsWith('/')) return send(line);
  const [command, ...rest] = line.trim().split(/\s+/);
  const argument = rest.join(' ');
  switch (command) {
    case '/help': HELP.forEach(system); break;
    case '/list': system('rooms: ' + state.rooms.join(', ')); break;
    case '/join':
      if (!argument) return notice('usage: /join <room>');
      return join(state.rooms.find((room) => room.toLowerCase() === argument.toLowerCase()) || argument);
    case '/messages': {
      if (!state.room) return notice('join a room first');
      const recent = chat.decodeRecentResponse(
        await gate.call('ChatRoom', 'ChatRoom-' + state.room, 'GetRecentMessages', chat.recentRequest()));
      system(recent.length ? `recent messages in ${state.room}:` : '(no messages yet)');
      for (const message of recent) show({ ...message, seq: 0 }); // shown again, not counted
      break;
    }
    case '/leave': return leave();
    case '/quit': return signOut();
    default: notice(`unknown command ${command}: try /help`);
  }
}

// --- wiring ---

$('signin').addEventListener('submit', (event) => {
  event.preventDefault();
  signIn($('user').value.trim(), $('password').value);
});
$('signout').addEventListener('click', signOut);
$('leave').addEventListener('click', () => leave().catch(onFailure));
$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const line = $('input').value;
  $('input').value = '';
  notice('');
  handleLine(line).catch((error) => notice(error.message));
});

const saved = restoreSession();
if (saved && saved.user) {
  state.room = saved.room || null;
  $('user').value = saved.user;
  signIn(saved.user, saved.password);
}
