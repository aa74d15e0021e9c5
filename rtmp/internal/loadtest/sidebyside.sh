#!/bin/bash
# sidebyside.sh: tapedeck and nginx-rtmp side by side with the load tool,
# interleaved, each server a fresh process pinned to core 0 and the tool to
# core 1. Prints one markdown row per run (the tool's), prefixed by round.
#
#   go build -o /tmp/lat/tapedeck . && go build -o /tmp/lat/loadtest ./rtmp/internal/loadtest
#   rtmp/internal/loadtest/sidebyside.sh 3 "1 100 1000" > rows.md
#
# Environment: TAPEDECK (binary), LOADTEST (binary), DIR (configs, logs;
# default /tmp/lat), DUR (window, 20s), WARMUP (5s). The configs it writes:
# tapedeck "auto" = the default write_batch, "0s" = write_batch 0s; both with
# recording off, warn logs and no per-address limit; nginx: one worker,
# live on, chunk_size 4096 (as tapedeck's default). SERVERS picks the runs
# at each N (default "nginx auto 0s"); with TAPEDECK_BEFORE (a second
# binary, e.g. built from main) "before" is that binary with the auto
# config, for a before/after comparison in the same run:
#   TAPEDECK_BEFORE=/tmp/main/tapedeck SERVERS="nginx before auto" sidebyside.sh 3
set -u
rounds=${1:-3}
sizes=${2:-"1 100 1000"}
DIR=${DIR:-/tmp/lat}
TAPEDECK=${TAPEDECK:-$DIR/tapedeck}
LOADTEST=${LOADTEST:-$DIR/loadtest}
DUR=${DUR:-20s}
WARMUP=${WARMUP:-5s}
SERVERS=${SERVERS:-"nginx auto 0s"}
# Ports, so two runs on one machine do not collide.
TD_PORT=${TD_PORT:-19391} HTTP_PORT=${HTTP_PORT:-18391} NGINX_PORT=${NGINX_PORT:-19361}
mkdir -p "$DIR/nginx" "$DIR/rec"
ulimit -n 8192

tdconf() { # name write_batch
	cat >"$DIR/td-$1.yaml" <<EOF
rtmp:
  listen: 127.0.0.1:$TD_PORT
  write_batch: $2
  limits: {max_connections: 5000, max_connections_per_ip: 0}
http: {listen: 127.0.0.1:$HTTP_PORT, pprof: true}
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
        listen 127.0.0.1:$NGINX_PORT;
        chunk_size 4096;
        application live { live on; }
    }
}
EOF

one() { # round server N
	local pid url label
	case $2 in
	nginx)
		taskset -c 0 /usr/sbin/nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx/" >"$DIR/nginx/out.log" 2>&1 &
		pid=$!
		url=rtmp://127.0.0.1:$NGINX_PORT/live/load
		label="nginx-rtmp"
		;;
	before)
		taskset -c 0 "$TAPEDECK_BEFORE" run -c "$DIR/td-auto.yaml" >"$DIR/td.log" 2>&1 &
		pid=$!
		url=rtmp://127.0.0.1:$TD_PORT/live/load
		label="tapedeck before"
		;;
	*)
		taskset -c 0 "$TAPEDECK" run -c "$DIR/td-$2.yaml" >"$DIR/td.log" 2>&1 &
		pid=$!
		url=rtmp://127.0.0.1:$TD_PORT/live/load
		label="tapedeck $2"
		;;
	esac
	sleep 1.5
	taskset -c 1 "$LOADTEST" -url $url -players $3 -bitrate 2.5M -duration $DUR -warmup $WARMUP \
		-server-pid $pid -progress 0 -label "$label" 2>>"$DIR/loadtest.log" | sed "s/^/| r$1 /"
	if [ $2 = nginx ]; then kill -QUIT $pid; else kill $pid; fi
	wait $pid 2>/dev/null
	sleep 1
}

for r in $(seq 1 $rounds); do
	for n in $sizes; do
		# Rotate the order each round so no server always runs first.
		set -- $SERVERS
		k=$(((r - 1) % $#))
		order="${*:k+1} ${*:1:k}"
		for s in $order; do
			echo "$(date -u +%T) round $r N=$n $s, load: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$DIR/loadtest.log"
			one $r $s $n
		done
	done
done
