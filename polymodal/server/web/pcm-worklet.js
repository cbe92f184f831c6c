// The Live tab's microphone stage, on the audio thread: Float32 samples at the AudioContext's
// rate (44.1 or 48 kHz on most devices) become 16-bit PCM at 24 kHz, the realtime socket's
// format, posted to the page in chunks of about 100 ms (an ArrayBuffer, transferred).
//
// Resampling: downwards each output sample is the mean of the input samples that fall in its
// period (a box filter, which keeps most of the energy above 12 kHz from folding back into the
// speech band, as plain decimation would); upwards (a 16 kHz context) it is interpolated
// linearly. Positions are counted over the whole stream, so 128-sample render blocks join
// without seams. The page sends "flush" on Stop: the partial chunk is posted, then "flushed".

class Pcm16Worklet extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const given = options.processorOptions || {};
    this.target = given.targetRate || 24000;
    this.ratio = sampleRate / this.target; // input samples per output sample
    this.size = Math.max(1, Math.round((this.target * (given.chunkMs || 100)) / 1000));
    this.chunk = new Int16Array(this.size);
    this.filled = 0;
    this.read = 0; // input samples seen so far
    this.bucket = -1; // output sample being averaged (downwards)
    this.sum = 0;
    this.count = 0;
    this.next = 0; // next output sample to interpolate (upwards)
    this.previous = 0;
    this.running = true;
    this.port.onmessage = (event) => {
      if (event.data === "flush") {
        this.post(this.filled);
        this.port.postMessage("flushed");
      } else if (event.data === "stop") {
        this.running = false;
      }
    };
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length) {
      const mono = channels.length === 1 ? channels[0] : mix(channels);
      if (this.ratio >= 1) this.down(mono);
      else this.up(mono);
    }
    return this.running;
  }

  down(samples) {
    for (let k = 0; k < samples.length; k++) {
      const bucket = Math.floor((this.read + k) / this.ratio);
      if (bucket !== this.bucket) {
        if (this.count) this.emit(this.sum / this.count);
        this.bucket = bucket;
        this.sum = 0;
        this.count = 0;
      }
      this.sum += samples[k];
      this.count += 1;
    }
    this.read += samples.length;
  }

  up(samples) {
    for (let k = 0; k < samples.length; k++) {
      const at = this.read + k; // this sample's index; the previous one is at - 1
      const value = samples[k];
      while (this.next * this.ratio < at) {
        const fraction = this.next * this.ratio - (at - 1);
        this.emit(this.previous + (value - this.previous) * fraction);
        this.next += 1;
      }
      this.previous = value;
    }
    this.read += samples.length;
  }

  emit(value) {
    const clipped = Math.max(-1, Math.min(1, value));
    this.chunk[this.filled] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
    this.filled += 1;
    if (this.filled === this.size) this.post(this.size);
  }

  post(length) {
    if (!length) return;
    const out = this.chunk.slice(0, length);
    this.port.postMessage(out.buffer, [out.buffer]);
    this.filled = 0;
  }
}

function mix(channels) {
  const out = new Float32Array(channels[0].length);
  for (const channel of channels) {
    for (let i = 0; i < out.length; i++) out[i] += channel[i] / channels.length;
  }
  return out;
}

registerProcessor("pcm16-24k", Pcm16Worklet);
