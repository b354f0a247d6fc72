#!/bin/bash
# rounds of: native llama-bench (c392e5094 -march=native) tg128, 2 threads, F16 KV, fa off; then main's and this branch's Tandem, order alternating
out=native; m=../models/tinyllama-1.1b-q8_0.gguf
for r in 1 2 3 4; do
  /work/artifacts/llama.cpp/native/bin/llama-bench -m $m -t 2 -p 0 -n 128 -r 1 -fa 0 -ctk f16 -ctv f16 -o json > $out/native-r$r.json 2> $out/native-r$r.log
  nat=$(python3 -c "import json;print(round(json.load(open('$out/native-r$r.json'))[0]['avg_ts'],1))")
  echo "$(date -u +%H:%M:%S) r$r native $nat load $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ $((r % 2)) -eq 1 ]; then order="base new1"; else order="new1 base"; fi
  for d in $order; do
    dotnet $d/Tandem.Bench.dll engine $m --threads 2 --pp 16 --tg 128 --kv f16 --tg-from-empty --no-bundle --reps 1 --json $out/$d-r$r.json > $out/$d-r$r.txt 2>&1
    echo "$(date -u +%H:%M:%S) r$r $d $(python3 -c "import json;j=json.load(open('$out/$d-r$r.json'));r=j['results'][0];print(round(max(r['decode_tok_per_sec']),1), 'limit', round(j['read_bandwidth_bytes_per_sec']/r['weight_bytes_per_token'],1))") load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
