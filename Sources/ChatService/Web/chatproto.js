// The chat protocol's few protobuf messages (proto/chat/chat.proto), encoded and decoded
// by hand: no build step, no dependency. Each request travels as a google.protobuf.Any
// in base64, as the gate's HTTP API takes it.

const TYPE_PREFIX = 'type.googleapis.com/chat.';
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

// --- writing ---

class Writer {
  constructor() { this.bytes = []; }
  varint(value) {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) { this.bytes.push(Number(v & 0x7fn) | 0x80); v >>= 7n; }
    this.bytes.push(Number(v));
    return this;
  }
  tag(field, wireType) { return this.varint((field << 3) | wireType); }
  // proto3: default values are not written.
  int64(field, value) { return value ? this.tag(field, 0).varint(value) : this; }
  bytesField(field, bytes) {
    if (!bytes.length) return this;
    this.tag(field, 2).varint(bytes.length);
    for (const b of bytes) this.bytes.push(b);
    return this;
  }
  string(field, text) { return text ? this.bytesField(field, textEncoder.encode(text)) : this; }
  finish() { return Uint8Array.from(this.bytes); }
}

// --- reading ---

class Reader {
  constructor(bytes) { this.bytes = bytes; this.offset = 0; }
  get done() { return this.offset >= this.bytes.length; }
  varint() {
    let result = 0n, shift = 0n;
    for (;;) {
      if (this.offset >= this.bytes.length) throw new Error('truncated varint');
      const b = this.bytes[this.offset++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7n;
      if (shift > 63n) throw new Error('varint too long');
    }
    return result;
  }
  // int64 as a Number (exact up to 2^53: seqs and microsecond times are far below it).
  int64() { return Number(BigInt.asIntN(64, this.varint())); }
  lengthDelimited() {
    const length = Number(this.varint());
    if (this.offset + length > this.bytes.length) throw new Error('truncated field');
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }
  string() { return textDecoder.decode(this.lengthDelimited()); }
  skip(wireType) {
    switch (wireType) {
      case 0: this.varint(); break;
      case 1: this.offset += 8; break;
      case 2: this.lengthDelimited(); break;
      case 5: this.offset += 4; break;
      default: throw new Error(`unsupported wire type ${wireType}`);
    }
    if (this.offset > this.bytes.length) throw new Error('truncated field');
  }
  // Calls read(field, wireType) for each field; it returns false to have it skipped.
  fields(read) {
    while (!this.done) {
      const key = Number(this.varint());
      const field = key >>> 3, wireType = key & 7;
      if (!read(field, wireType)) this.skip(wireType);
    }
  }
}

// --- base64 and Any ---

export function toBase64(bytes) {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

export function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// A chat message type wrapped in an Any, base64: what the HTTP API's "request" holds.
export function packAny(typeName, messageBytes) {
  return toBase64(new Writer().string(1, TYPE_PREFIX + typeName).bytesField(2, messageBytes).finish());
}

export function decodeAny(base64) {
  const reader = new Reader(fromBase64(base64));
  const any = { typeUrl: '', value: new Uint8Array() };
  reader.fields((field, wireType) => {
    if (wireType !== 2) return false;
    if (field === 1) any.typeUrl = reader.string();
    else if (field === 2) any.value = reader.lengthDelimited();
    else return false;
    return true;
  });
  return any;
}

function expectType(any, typeName) {
  if (any.typeUrl !== TYPE_PREFIX + typeName) {
    throw new Error(`expected ${typeName}, got ${any.typeUrl || 'an empty Any'}`);
  }
  return any.value;
}

// --- requests ---

export const listRequest = () => packAny('ChatRoom_ListRequest', new Uint8Array());
export const leaveRequest = () => packAny('ChatRoom_LeaveRequest', new Uint8Array());

export function joinRequest({ afterSeq = 0 } = {}) {
  return packAny('ChatRoom_JoinRequest', new Writer().int64(3, afterSeq).finish());
}

export function sendRequest({ text, messageId = '' }) {
  return packAny('ChatRoom_SendChatMessageRequest', new Writer().string(2, text).string(3, messageId).finish());
}

export function recentRequest({ afterSeq = 0, limit = 0 } = {}) {
  return packAny('ChatRoom_GetRecentMessagesRequest', new Writer().int64(1, afterSeq).int64(2, limit).finish());
}

// --- responses and pushes ---

export function decodeChatMessage(bytes) {
  const reader = new Reader(bytes);
  const message = { userName: '', message: '', timestamp: 0, seq: 0 };
  reader.fields((field, wireType) => {
    if (field === 1 && wireType === 2) message.userName = reader.string();
    else if (field === 2 && wireType === 2) message.message = reader.string();
    else if (field === 3 && wireType === 0) message.timestamp = reader.int64();
    else if (field === 4 && wireType === 0) message.seq = reader.int64();
    else return false;
    return true;
  });
  return message;
}

// Repeated ChatMessage in field `number` of `bytes`.
function chatMessages(bytes, number) {
  const reader = new Reader(bytes);
  const messages = [];
  reader.fields((field, wireType) => {
    if (field !== number || wireType !== 2) return false;
    messages.push(decodeChatMessage(reader.lengthDelimited()));
    return true;
  });
  return messages;
}

export function decodeListResponse(base64) {
  const reader = new Reader(expectType(decodeAny(base64), 'ChatRoom_ListResponse'));
  const rooms = [];
  reader.fields((field, wireType) => {
    if (field !== 1 || wireType !== 2) return false;
    rooms.push(reader.string());
    return true;
  });
  return rooms;
}

export function decodeJoinResponse(base64) {
  const bytes = expectType(decodeAny(base64), 'ChatRoom_JoinResponse');
  const reader = new Reader(bytes);
  let roomName = '';
  reader.fields((field, wireType) => {
    if (field !== 1 || wireType !== 2) return false;
    roomName = reader.string();
    return true;
  });
  return { roomName, recentMessages: chatMessages(bytes, 2) };
}

export function decodeRecentResponse(base64) {
  return chatMessages(expectType(decodeAny(base64), 'ChatRoom_GetRecentMessagesResponse'), 1);
}

// A push from the event stream (the whole Any, base64); null if it is not a new message.
export function decodeNotification(base64) {
  const any = decodeAny(base64);
  if (any.typeUrl !== TYPE_PREFIX + 'Client_NewMessageNotification') return null;
  const reader = new Reader(any.value);
  let message = null;
  reader.fields((field, wireType) => {
    if (field !== 1 || wireType !== 2) return false;
    message = decodeChatMessage(reader.lengthDelimited());
    return true;
  });
  return message;
}
