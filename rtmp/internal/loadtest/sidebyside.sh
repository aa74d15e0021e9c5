#!/bin/bash
# sidebyside.sh: tapedeck and nginx-rtmp side by side with the load tool,
# interleaved, each server a fresh process pinned to core 0 and the tool to
# core 1. Prints one markdown row per run (the tool's), prefixed by round.
#
#   go build -o /tmp/lat/tapedeck . && go build -o /tmp/lat/loadtest ./rtmp/internal/loadtest
#   rtmp/internal/loadtest/sidebyside.sh 3 "1 100 1000" > rows.md
#   SERVERS="nginx auto" rtmp/internal/loadtest/sidebyside.sh 3 "10x100 100x10" > rows.md
#
# A size is a player count (one stream) or STREAMSxPLAYERS: that many
# streams, each with its own publisher and that many players.
# Environment: TAPEDECK (binary), LOADTEST (binary), DIR (configs, logs;
# default /tmp/lat), DUR (window, 20s), WARMUP (5s), BITRATE (per stream,
# 2.5M), SERVERS (the set each round rotates, "nginx auto 0s"), PORT
# (tapedeck's RTMP port, 19391; its HTTP port PORT-1000, nginx's RTMP port
# PORT-30), ARGS (more load tool flags, e.g. "-ramp 50 -timeout 30s"). The
# configs it writes:
# tapedeck "auto" = the default write_batch, "0s" = write_batch 0s; both with
# recording off, warn logs and no per-address limit; nginx: one worker,
# live on, chunk_size 4096 (as tapedeck's default). With TAPEDECK_BEFORE (a
# second binary, e.g. built from main) the server "before" is that binary
# with the auto config, for a before/after comparison in the same run:
#   TAPEDECK_BEFORE=/tmp/main/tapedeck SERVERS="nginx before auto" sidebyside.sh 3
set -u
rounds=${1:-3}
sizes=${2:-"1 100 1000"}
DIR=${DIR:-/tmp/lat}
TAPEDECK=${TAPEDECK:-$DIR/tapedeck}
LOADTEST=${LOADTEST:-$DIR/loadtest}
DUR=${DUR:-20s}
WARMUP=${WARMUP:-5s}
BITRATE=${BITRATE:-2.5M}
SERVERS=${SERVERS:-"nginx auto 0s"}
PORT=${PORT:-19391}
ARGS=${ARGS:-}
mkdir -p "$DIR/nginx" "$DIR/rec"
ulimit -n 8192

tdconf() { # name write_batch
	cat >"$DIR/td-$1.yaml" <<EOF
rtmp:
  listen: 127.0.0.1:$PORT
  write_batch: $2
  limits: {max_connections: 5000, max_connections_per_ip: 0}
http: {listen: 127.0.0.1:$((PORT - 1000)), pprof: true}
log: {level: warn}
storage: {dir: $DIR/rec}
apps:
  live:
    record: {enabled: false}
EOF
}
tdconf auto auto
tdconf 0s 0s
cat >"$DIR/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
daemon off;
master_process off;
error_log $DIR/nginx/error.log warn;
pid $DIR/nginx/nginx.pid;
events { worker_connections 8192; }
rtmp {
    server {
        listen 127.0.0.1:$((PORT - 30));
        chunk_size 4096;
        application live { live on; }
    }
}
EOF

one() { # round server N|SxP
	local pid url label streams=1 players=$3
	case $3 in *x*) streams=${3%x*} players=${3#*x} ;; esac
	case $2 in
	nginx)
		taskset -c 0 /usr/sbin/nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx/" >"$DIR/nginx/out.log" 2>&1 &
		pid=$!
		url=rtmp://127.0.0.1:$((PORT - 30))/live/load
		label="nginx-rtmp"
		;;
	before)
		taskset -c 0 "$TAPEDECK_BEFORE" run -c "$DIR/td-auto.yaml" >"$DIR/td.log" 2>&1 &
		pid=$!
		url=rtmp://127.0.0.1:$PORT/live/load
		label="tapedeck before"
		;;
	*)
		taskset -c 0 "$TAPEDECK" run -c "$DIR/td-$2.yaml" >"$DIR/td.log" 2>&1 &
		pid=$!
		url=rtmp://127.0.0.1:$PORT/live/load
		label="tapedeck $2"
		;;
	esac
	sleep 1.5
	taskset -c 1 "$LOADTEST" -url $url -streams $streams -players $players -bitrate $BITRATE -duration $DUR -warmup $WARMUP \
		-server-pid $pid -progress 0 -label "$label" $ARGS 2>>"$DIR/loadtest.log" | sed "s/^/| r$1 /"
	if [ $2 = nginx ]; then kill -QUIT $pid; else kill $pid; fi
	wait $pid 2>/dev/null
	sleep 1
}

rotate() { # K WORD...: the words rotated left by K
	local k=$1
	shift
	local w=("$@")
	k=$((k % ${#w[@]}))
	echo "${w[@]:k}" "${w[@]:0:k}"
}

for r in $(seq 1 $rounds); do
	for n in $sizes; do
		# Rotate the order each round so no server always runs first.
		for s in $(rotate $((r - 1)) $SERVERS); do
			echo "$(date -u +%T) round $r N=$n $s, load: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$DIR/loadtest.log"
			one $r $s $n
		done
	done
done
