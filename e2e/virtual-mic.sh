#!/usr/bin/env bash
# Starts a virtual microphone for tests: PulseAudio in user mode with a null sink
# ("steno_sink") whose monitor is remapped to a mono source ("steno_mic") and set
# as the default source, so ALSA's `default` device (and so PortAudio/naudiodon)
# records whatever is played into the sink with `paplay --device=steno_sink`.
# Idempotent: does nothing if the virtual microphone is already up.
set -euo pipefail

if pactl info >/dev/null 2>&1 && pactl list short sources 2>/dev/null | grep -q steno_mic; then
  echo "virtual-mic: already running"
  exit 0
fi

# Route ALSA's default device through PulseAudio.
if [ ! -f /etc/asound.conf ] || ! grep -q 'type pulse' /etc/asound.conf; then
  cat > /etc/asound.conf <<'ASOUND'
pcm.!default { type pulse }
ctl.!default { type pulse }
ASOUND
fi

pulseaudio --kill >/dev/null 2>&1 || true
sleep 0.3
# --exit-idle-time=-1: stay up between tests. As root PulseAudio warns but runs.
pulseaudio --start --exit-idle-time=-1 --disallow-exit \
  --load="module-native-protocol-unix auth-anonymous=1" >/dev/null 2>&1 || \
  pulseaudio -D --system=false --exit-idle-time=-1 --disallow-exit >/dev/null 2>&1

for _ in $(seq 1 50); do
  pactl info >/dev/null 2>&1 && break
  sleep 0.1
done
pactl info >/dev/null

pactl load-module module-null-sink sink_name=steno_sink rate=48000 channels=2 \
  sink_properties=device.description=StenoSink >/dev/null
pactl load-module module-remap-source source_name=steno_mic master=steno_sink.monitor \
  channels=1 channel_map=mono source_properties=device.description=StenoMic >/dev/null
pactl set-default-sink steno_sink
pactl set-default-source steno_mic

# One stream of silence keeps the sink running; without it the first ~1.5 s of
# every capture is lost while the sink wakes up.
nohup pacat --playback --device=steno_sink --format=s16le --rate=48000 --channels=2 \
  --latency-msec=100 /dev/zero >/dev/null 2>&1 &

# Wait until the sink reports a low latency (it is running and warmed up).
for _ in $(seq 1 100); do
  state=$(pactl list short sinks | awk '$2=="steno_sink"{print $NF}')
  [ "$state" = "RUNNING" ] && break
  sleep 0.1
done
sleep 0.5
echo "virtual-mic: steno_mic is the default source (sink steno_sink)"
