#!/bin/bash
# profile.sh: syscall counts and a perf profile of one server under the load
# tool, placed as sidebyside.sh places them (server on core 0, tool on
# core 1). It uses the configs sidebyside.sh writes into DIR, so run that
# once first (with the same DIR and PORT).
#
#   profile.sh SERVER N LABEL
#
# SERVER is "nginx" or the path of a tapedeck binary (run with the "auto"
# config), N the players. 11 s in (ramp, 5 s warm-up), it counts the
# server's syscalls for 5 s (perf stat, per second on stdout) and then
# records it for REC seconds at FREQ Hz (perf record -g) into
# DIR/prof-LABEL-N/perf.data; the tool's row goes to stdout too.
# Environment: DIR (/tmp/lat), PORT (19391), LOADTEST (DIR/loadtest),
# FREQ (499), REC (6), LTDUR (the tool's window, 20s).
# Run it under the measurement lock: flock /tmp/measure.lock chrt -f 10 ...
set -u
srv=$1 n=$2 label=$3
DIR=${DIR:-/tmp/lat}
PORT=${PORT:-19391}
LOADTEST=${LOADTEST:-$DIR/loadtest}
out=$DIR/prof-$label-$n
mkdir -p "$out"
ulimit -n 8192
if [ "$srv" = nginx ]; then
	taskset -c 0 /usr/sbin/nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx/" >"$DIR/nginx/out.log" 2>&1 &
	pid=$!
	url=rtmp://127.0.0.1:$((PORT - 30))/live/load
else
	taskset -c 0 "$srv" run -c "$DIR/td-auto.yaml" >"$out/td.log" 2>&1 &
	pid=$!
	url=rtmp://127.0.0.1:$PORT/live/load
fi
sleep 1.5
taskset -c 1 "$LOADTEST" -url "$url" -players "$n" -duration "${LTDUR:-20s}" -warmup 5s -server-pid $pid -progress 0 -label "$label" >"$out/row.md" 2>"$out/lt.log" &
lt=$!
sleep 11
ev=""
for s in sendto sendmsg writev write read readv recvfrom futex epoll_pwait epoll_wait nanosleep clock_nanosleep sched_yield tgkill rt_sigreturn setsockopt epoll_ctl clock_gettime mmap madvise; do
	ev="$ev,syscalls:sys_enter_$s"
done
perf stat -x, -e task-clock,context-switches$ev -p $pid -o "$out/stat.csv" -- sleep 5
perf record -g -F "${FREQ:-499}" -p $pid -o "$out/perf.data" -- sleep "${REC:-6}" 2>"$out/perf.log"
wait $lt
if [ "$srv" = nginx ]; then kill -QUIT $pid; else kill $pid; fi
wait $pid 2>/dev/null
cat "$out/row.md"
# task-clock in ms per second, the rest in calls per second.
grep -v '^#' "$out/stat.csv" | awk -F, '$1!="" && $1+0 > 0 {printf "%s %s/s\n", $3, ($1+0)/5}'
