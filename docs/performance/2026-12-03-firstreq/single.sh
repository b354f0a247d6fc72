#!/bin/bash
# usage (from the repository root): single.sh OUTDIR [extra serve args]; one all-in-one server on stories260K, waits for
# /health/ready, then times the requests of requests.sh (SIGTERM at the end: a background job of a script ignores SIGINT)
out=$1; shift
. "$(dirname "$0")/requests.sh"
mkdir -p $out
M=/work/shared/models/stories260K.gguf
t0=$(date +%s.%N)
dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll serve --model $M --port 0 "$@" > $out/serve.out 2> $out/serve.err &
pid=$!
while ! grep -q "listening on" $out/serve.out 2>/dev/null; do kill -0 $pid 2>/dev/null || exit 1; sleep 0.02; done
t1=$(date +%s.%N)
addr=$(grep -o "listening on http://[^ ]*" $out/serve.out | cut -d' ' -f3)
while [ "$(curl -s -o /dev/null -w '%{http_code}' ${addr}health/ready)" != 200 ]; do sleep 0.02; done
t2=$(date +%s.%N)
echo "startup_to_listening_s $(echo "$t1-$t0"|bc) startup_to_ready_s $(echo "$t2-$t0"|bc)" > $out/times.txt
time_requests
kill $pid; wait $pid
uptime >> $out/times.txt
cat $out/times.txt
