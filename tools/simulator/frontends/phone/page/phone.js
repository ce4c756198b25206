// The browser phone: microphone -> 20 ms frames -> the simulator; what the caller
// hears <- the simulator -> a small jitter buffer -> the speakers.
'use strict';

const FRAME_MS = 20;
const QUEUE_FRAMES = 2; // what the grid holds: a burst of two frames between two sends
// A page held up (a busy machine) catches up on its grid; beyond this much backlog
// the oldest frames go, so that the caller's delay stays bounded.
const MAX_QUEUE = 10;
const $ = (id) => document.getElementById(id);

const phone = {
  socket: null, stream: null, context: null, capture: null, player: null,
  queue: [], timer: null, next: 0, sent: 0, heard: 0, droppedSends: 0,
  sendTimes: [], report: null, ended: false, hungUp: false, started: 0,

  log(line) {
    const t = this.started ? ((performance.now() - this.started) / 1000).toFixed(2) : '0.00';
    const log = $('log');
    log.textContent += `${t.padStart(7)}  ${line}\n`;
    log.scrollTop = log.scrollHeight;
  },

  status(text, kind) {
    const status = $('status');
    status.textContent = text;
    status.className = kind || '';
  },

  async call() {
    $('call').disabled = true;
    this.ended = false;
    this.hungUp = false;
    this.report = null;
    this.started = performance.now();
    this.status('asking for the microphone');
    try {
      // Raw audio: the stack's handler hears what the caller said, not a processed version.
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (error) {
      this.status(`no microphone: ${error.name}`, 'fail');
      this.log(`microphone refused or missing: ${error.message || error.name}`);
      $('call').disabled = false;
      return;
    }
    const url = new URL('call', location.href);
    url.protocol = 'ws:';
    this.socket = new WebSocket(url);
    this.socket.binaryType = 'arraybuffer';
    this.socket.onopen = () => { this.status('calling'); $('hangup').disabled = false; };
    this.socket.onmessage = (event) => this.onMessage(event.data);
    this.socket.onclose = (event) => this.onClose(event);
  },

  onMessage(data) {
    if (data instanceof ArrayBuffer) {
      this.heard++;
      if (this.player) this.player.port.postMessage({ frame: data }, [data]);
      return;
    }
    const message = JSON.parse(data);
    if (message.type === 'rate') this.startAudio(message.rate, message.frame_bytes);
    else if (message.type === 'progress') this.log(message.line);
    else if (message.type === 'stats') this.showStats(message);
    else if (message.type === 'report') this.showReport(message.report);
    else if (message.type === 'error') this.log(`error: ${message.error}`);
  },

  async startAudio(rate, frameBytes) {
    await this.stopAudio();
    this.queue = []; // frames at the rate before: the simulator no longer takes them
    this.status(`connected at ${rate} Hz`);
    $('rate').textContent = `${rate} Hz`;
    // Chromium resamples the microphone's track to the context's rate.
    const context = new AudioContext({ sampleRate: rate });
    this.context = context;
    await context.audioWorklet.addModule('capture.js');
    await context.audioWorklet.addModule('player.js');
    const source = context.createMediaStreamSource(this.stream);
    const capture = new AudioWorkletNode(context, 'capture', {
      numberOfInputs: 1, numberOfOutputs: 0,
      channelCount: 1, channelCountMode: 'explicit', channelInterpretation: 'speakers',
      processorOptions: { samplesPerFrame: frameBytes / 2 },
    });
    capture.port.onmessage = (event) => this.onFrame(event.data);
    source.connect(capture);
    const player = new AudioWorkletNode(context, 'player', { numberOfInputs: 0, outputChannelCount: [1] });
    player.connect(context.destination);
    this.capture = capture;
    this.player = player;
    await context.resume();
  },

  // Audio callbacks tick about every 10 ms, so frames come from them 10 and 30 ms
  // apart; Vonage sends one every 20 ms. The frames wait in a two-frame queue and
  // leave on a 20 ms grid.
  onFrame({ frame, level }) {
    $('level').style.width = `${Math.min(100, Math.round(level * 300))}%`;
    this.queue.push(frame);
    while (this.queue.length > MAX_QUEUE) { this.queue.shift(); this.droppedSends++; }
    if (this.timer === null) {
      this.next = performance.now() + FRAME_MS;
      this.timer = setTimeout(() => this.tick(), FRAME_MS);
    }
  },

  tick() {
    const frame = this.queue.shift();
    if (frame && !this.hungUp && this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(frame);
      this.sent++;
      if (this.sendTimes.length < 360000) this.sendTimes.push(performance.now());
      $('sent').textContent = this.sent;
    }
    $('heard').textContent = this.heard;
    this.next += FRAME_MS;
    const now = performance.now();
    if (this.next < now - MAX_QUEUE * FRAME_MS) this.next = now; // too far behind: a new grid
    this.timer = setTimeout(() => this.tick(), Math.max(0, this.next - now));
  },

  showStats(stats) {
    $('echoed').textContent = stats.echoed;
    $('rtt').textContent = stats.rtt_ms === null ? '-' : `${stats.rtt_ms.toFixed(1)} ms`;
    $('legs').textContent = stats.legs;
    $('gaps').textContent = stats.gaps_s.length ? stats.gaps_s.map((g) => `${(g * 1000).toFixed(0)} ms`).join(', ') : '-';
  },

  showReport(report) {
    this.report = report;
    const exact = report.echo && report.echo.byte_exact ? ', echo byte-exact' : '';
    const verdict = report.passed ? `call passed${exact}` : `call failed: ${report.error}`;
    this.log(`report: ${verdict}; ${report.frames.echoed} of ${report.frames.sent} frames back, round trip p50 ${report.round_trip_ms.p50 ?? '-'} ms`);
    this.status(verdict, report.passed ? 'pass' : 'fail');
  },

  onClose(event) {
    this.ended = true;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    this.queue = [];
    if (event.code !== 1000) this.status(`call ended: ${event.code} ${event.reason || ''}`, 'fail');
    else if (!this.report) this.status('call over');
    this.log(`socket to the simulator closed: ${event.code} ${event.reason}`);
    $('hangup').disabled = true;
    $('call').disabled = false;
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
  },

  hangUp() {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ hangup: true }));
      this.hungUp = true; // nothing more is said
      this.status('hanging up');
    }
    $('hangup').disabled = true;
  },

  press(digit) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ dtmf: digit }));
    }
  },

  async stopAudio() {
    if (this.context) await this.context.close();
    this.context = this.capture = this.player = null;
  },

  // What the player played: float32 little-endian samples at the call's rate, base64.
  recording() {
    return new Promise((resolve) => {
      if (!this.player) { resolve({ samples: '', underruns: 0, dropped: 0, rate: 0 }); return; }
      this.player.port.onmessage = (event) => {
        const bytes = new Uint8Array(event.data.recording);
        let text = '';
        for (let i = 0; i < bytes.length; i += 0x8000) {
          text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
        }
        resolve({
          samples: btoa(text), underruns: event.data.underruns, dropped: event.data.dropped,
          rate: this.context.sampleRate,
        });
      };
      this.player.port.postMessage({ recording: true });
    });
  },
};

for (const digit of '123456789*0#') {
  const key = document.createElement('button');
  key.textContent = digit;
  key.dataset.digit = digit;
  key.addEventListener('click', () => phone.press(digit));
  $('keypad').appendChild(key);
}
$('call').addEventListener('click', () => phone.call());
$('hangup').addEventListener('click', () => phone.hangUp());
window.phone = phone;
