// The microphone's side of the phone, in the audio thread: exact 20 ms frames of
// 16-bit little-endian PCM at the context's rate (the call's), posted to the page.
// Audio callbacks come in bursts (about every 10 ms); the page paces the frames.
class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.samplesPerFrame;
    this.frame = new Int16Array(this.size);
    this.filled = 0;
    this.sum = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      const s = Math.max(-1, Math.min(1, channel[i]));
      const v = Math.round(s * 32767);
      this.frame[this.filled++] = v;
      this.sum += v * v;
      if (this.filled === this.size) {
        // Int16Array is little-endian on every platform Chromium runs on.
        const level = Math.sqrt(this.sum / this.size) / 32768;
        this.port.postMessage({ frame: this.frame.buffer, level }, [this.frame.buffer]);
        this.frame = new Int16Array(this.size);
        this.filled = 0;
        this.sum = 0;
      }
    }
    return true;
  }
}
registerProcessor('capture', CaptureProcessor);
