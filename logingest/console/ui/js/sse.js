// A Server-Sent Events parser for streams read with fetch() (EventSource cannot send the API key header).
// It follows the WHATWG event-stream format: fields "event", "data" (joined with newlines), "id" and "retry",
// comment lines starting with ":", any of CRLF, LF or CR as line ends, and events split across chunks.

export class SSEParser {
  constructor() {
    this.buf = '';
    this.reset();
    this.lastEventId = '';
  }

  reset() {
    this.event = '';
    this.data = [];
    this.id = null; // the block's id, committed to lastEventId when the block ends
  }

  /**
   * push feeds decoded text and returns the events it completed, each {event, data, id}. lastEventId is the
   * id to resume after (Last-Event-ID): the last id of a completed block, never of a half-received one.
   * @param {string} text
   */
  push(text) {
    const buf = this.buf + text;
    const out = [];
    const eol = /\r\n|\n|\r/g;
    let pos = 0;
    for (let m; (m = eol.exec(buf));) {
      // A lone CR at the very end may be the first half of a CRLF split across chunks: wait for more.
      if (m[0] === '\r' && m.index === buf.length - 1) break;
      const line = buf.slice(pos, m.index);
      pos = m.index + m[0].length;
      this.line(line, out);
    }
    this.buf = buf.slice(pos);
    return out;
  }

  line(line, out) {
    if (line === '') {
      if (this.id !== null) this.lastEventId = this.id;
      if (this.data.length) out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.lastEventId });
      this.reset();
      return;
    }
    if (line.startsWith(':')) return; // comment (heartbeat)
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }
}
