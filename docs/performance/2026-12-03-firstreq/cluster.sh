#!/bin/bash
# usage: cluster.sh OUTDIR [extra frontend args]; prefill + decode workers (core 0, 1) and a frontend, token auth;
# waits for the frontend's /health/ready, then times completions as single.sh does.
out=$1; shift
. "$(dirname "$0")/requests.sh"
mkdir -p $out
M=/work/shared/models/stories260K.gguf
T=dotnet; D=src/Tandem.Cli/bin/Release/net10.0/tandem.dll
export TANDEM_CLUSTER_TOKEN=bench-token
waitaddr() { while ! grep -q "listening on" $1 2>/dev/null; do sleep 0.02; done; grep -o "listening on http://[^ ]*" $1 | cut -d' ' -f3; }
$T $D serve --model $M --role prefill --port 0 --cores 0 > $out/prefill.out 2> $out/prefill.err & p1=$!
$T $D serve --model $M --role decode --port 0 --cores 1 > $out/decode.out 2> $out/decode.err & p2=$!
a1=$(waitaddr $out/prefill.out); a2=$(waitaddr $out/decode.out)
hp() { echo $1 | sed -e 's#http://##' -e 's#/$##'; }
t0=$(date +%s.%N)
$T $D serve --model $M --role frontend --port 0 --worker-timeout 10 --prefill-workers $(hp $a1) --decode-workers $(hp $a2) "$@" > $out/frontend.out 2> $out/frontend.err & p3=$!
addr=$(waitaddr $out/frontend.out)
t1=$(date +%s.%N)
while [ "$(curl -s -o /dev/null -w '%{http_code}' ${addr}health/ready)" != 200 ]; do sleep 0.02; done
t2=$(date +%s.%N)
echo "frontend_start_to_listening_s $(echo "$t1-$t0"|bc) frontend_start_to_ready_s $(echo "$t2-$t0"|bc)" > $out/times.txt
time_requests
curl -s ${a1}health > $out/prefill-health.json; curl -s ${a2}health > $out/decode-health.json
kill $p3; wait $p3; kill $p1 $p2; wait $p1 $p2
uptime >> $out/times.txt
cat $out/times.txt
