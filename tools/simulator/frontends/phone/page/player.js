// What the caller hears, in the audio thread: a small jitter buffer. Playback
// starts once PREFILL frames are queued and starts over the same way after an
// underrun; it never holds more than MAX frames (the oldest go first). The frames
// it plays are also recorded, up to RECORD_SECONDS and without the silence of
// underruns (they are counted), for the page to hand over.
const PREFILL = 2;
const MAX = 10;
const RECORD_SECONDS = 60;

class PlayerProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = [];
    this.current = null;
    this.pos = 0;
    this.playing = false;
    this.underruns = 0;
    this.dropped = 0;
    this.record = new Float32Array(Math.round(sampleRate * RECORD_SECONDS));
    this.recorded = 0;
    this.port.onmessage = (event) => {
      const data = event.data;
      if (data.frame) {
        this.queue.push(new Int16Array(data.frame));
        while (this.queue.length > MAX) { this.queue.shift(); this.dropped++; }
      } else if (data.recording) {
        const copy = this.record.slice(0, this.recorded);
        this.port.postMessage({ recording: copy.buffer, underruns: this.underruns, dropped: this.dropped }, [copy.buffer]);
      }
    };
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing && this.queue.length >= PREFILL) this.playing = true;
    for (let i = 0; i < out.length; i++) {
      if (this.playing && (!this.current || this.pos >= this.current.length)) {
        this.current = this.queue.shift() || null;
        this.pos = 0;
        if (!this.current) { this.playing = false; this.underruns++; }
      }
      if (this.playing && this.current) {
        const sample = this.current[this.pos++] / 32768;
        out[i] = sample;
        if (this.recorded < this.record.length) this.record[this.recorded++] = sample;
      } else {
        out[i] = 0;
      }
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    return true;
  }
}
registerProcessor('player', PlayerProcessor);
