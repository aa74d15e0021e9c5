#!/bin/bash
# recording.sh: K streams published with ffmpeg (-re -c copy, looping a
# clip), every one recorded, no players; server on core 0, publishers on
# core 1. Prints one markdown row: server, K, CPU cores over the window,
# CPU ms per stream per second, RSS idle / end MB, RSS per stream MB.
#
#   recording.sh tapedeck|nginx K CLIP [BINARY]
#
# tapedeck runs its default recording config (fMP4) with recordings under
# $DIR/rec; nginx-rtmp records FLV (record all). Window 20 s after 10 s.
# Environment: DIR (default /tmp/lat), WIN (20), PORT (tapedeck's RTMP
# port, 19391; its HTTP port is PORT-1000, nginx's RTMP port PORT-30),
# HEAP=FILE saves tapedeck's heap profile (http.pprof) at the window's end.
# The last two columns are the server's read and write syscalls per second
# per stream over the window (/proc/PID/io syscr, syscw: not CPU noise;
# nginx's recvfrom is not counted in syscr, use STRACE), then the kB per
# second per stream the recordings grew by over the window (whether the
# publishers kept up; tapedeck's fMP4 grows by 2 s fragments, so ±10 %).
# STRACE=SECONDS runs `strace -c -f` on the server for that long after the
# window (so it does not slow the window) into $DIR/strace-WHO-K.txt.
# STAGGER=1 starts each publisher after a random pause of up to 2 s (the
# clip's keyframe interval), so the streams' keyframes fall at independent
# phases as independent cameras' do; by default they start together and
# their keyframes come in phase, the worst case for memory (every stream's
# whole GOP is held at the same moment).
set -u
who=$1; k=$2; clip=$3; bin=${4:-}
DIR=${DIR:-/tmp/lat}
WIN=${WIN:-20}
PORT=${PORT:-19391}
HEAP=${HEAP:-}
rm -rf "$DIR/rec" && mkdir -p "$DIR/rec" "$DIR/nginx"
if [ $who = nginx ]; then
	cat >"$DIR/nginx/rec.conf" <<EOF2
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
daemon off;
master_process off;
error_log $DIR/nginx/error.log warn;
pid $DIR/nginx/nginx.pid;
events { worker_connections 1024; }
rtmp { server { listen 127.0.0.1:$((PORT - 30)); chunk_size 4096;
  application live { live on; record all; record_path $DIR/rec; } } }
EOF2
	taskset -c 0 /usr/sbin/nginx -c "$DIR/nginx/rec.conf" -p "$DIR/nginx/" >/dev/null 2>&1 &
	url=rtmp://127.0.0.1:$((PORT - 30))/live
else
	cat >"$DIR/td-rec.yaml" <<EOF2
rtmp: {listen: 127.0.0.1:$PORT}
http: {listen: 127.0.0.1:$((PORT - 1000)), pprof: true}
log: {level: warn}
storage: {dir: $DIR/rec}
EOF2
	taskset -c 0 "$bin" run -c "$DIR/td-rec.yaml" >"$DIR/td-rec.log" 2>&1 &
	url=rtmp://127.0.0.1:$PORT/live
fi
pid=$!
sleep 3
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
cpu() { awk '{print $14+$15}' /proc/$pid/stat; }
sysc() { awk '/^syscr|^syscw/ {printf "%s ", $2}' /proc/$pid/io; }
idle=$(rss)
pubs=()
for i in $(seq 1 $k); do
	if [ -n "${STAGGER:-}" ]; then sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", (r % 2000) / 1000 }')"; fi
	taskset -c 1 ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$clip" -c copy -f flv "$url/cam$i" </dev/null >/dev/null 2>&1 &
	pubs+=($!)
done
sleep 10
recb() { du -sb "$DIR/rec" | cut -f1; }
c0=$(cpu); s0=$(sysc); b0=$(recb); sleep $WIN; c1=$(cpu); s1=$(sysc); b1=$(recb)
end=$(rss)
if [ -n "${STRACE:-}" ]; then
	timeout -s INT "$STRACE" strace -c -f -p $pid -o "$DIR/strace-$who-$k.txt" 2>/dev/null
fi
if [ -n "$HEAP" ] && [ $who != nginx ]; then
	curl -s -o "$HEAP" "http://127.0.0.1:$((PORT - 1000))/debug/pprof/heap"
	curl -s -o "$HEAP.txt" "http://127.0.0.1:$((PORT - 1000))/debug/pprof/heap?debug=1&gc=1"
fi
kill "${pubs[@]}" 2>/dev/null; wait "${pubs[@]}" 2>/dev/null
if [ $who = nginx ]; then kill -QUIT $pid; else kill $pid; fi
wait $pid 2>/dev/null
awk -v w="$who" -v k=$k -v c=$((c1 - c0)) -v win=$WIN -v idle=$idle -v end=$end -v load="$(cut -d' ' -f1 /proc/loadavg)" -v s0="$s0" -v s1="$s1" -v rb=$((b1 - b0)) 'BEGIN {
	split(s0, a, " "); split(s1, b, " ")
	cores = c / 100 / win
	printf "| %s | %d | %.3f | %.1f ms/s | %.1f / %.1f | %.2f | %s | %.1f | %.1f | %.0f |\n", w, k, cores, cores * 1000 / k, idle / 1024, end / 1024, (end - idle) / 1024 / k, load, (b[1] - a[1]) / win / k, (b[2] - a[2]) / win / k, rb / 1000 / win / k }'
