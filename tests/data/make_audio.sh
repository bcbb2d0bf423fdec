#!/usr/bin/env bash
# Regenerates the committed speech fixtures; needs espeak-ng and sox (apt-get install -y espeak-ng sox),
# which the tests themselves do not. Both tools are deterministic here: espeak-ng has no randomness and
# `sox -R` fixes the random seed; `-D` turns off dither so no noise is added when writing 16-bit samples.
#
#   espeak-ng -v en-us -s 160 -w "$tmp/weather.wav" "what is the weather like"
#   sox -R "$tmp/weather.wav" -D -r 16000 -c 1 -b 16 weather.wav pad 0.2 0.2
#   sox -R -n -r 16000 -c 1 -b 16 -D noise.wav synth 2 whitenoise vol 0.5
#
# "what is the weather like" at 160 words per minute was picked from several phrases, voices and speeds
# because pocketsphinx 5.1.1 decodes it exactly, also after resampling to 44.1/48 kHz and back.
# Made with eSpeak NG 1.51 and SoX 14.4.2; other versions may write slightly different samples.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

espeak-ng -v en-us -s 160 -w "$tmp/weather.wav" "what is the weather like"
sox -R "$tmp/weather.wav" -D -r 16000 -c 1 -b 16 weather.wav pad 0.2 0.2
sox -R -n -r 16000 -c 1 -b 16 -D noise.wav synth 2 whitenoise vol 0.5
