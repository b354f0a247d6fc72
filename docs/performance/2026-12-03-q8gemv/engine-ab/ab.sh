#!/bin/bash
# usage: ab.sh OUTDIR ROUNDS A_DIR B_DIR MODEL... ; alternates which build goes first each round
out=$1; rounds=$2; a=$3; b=$4; shift 4
mkdir -p $out
for r in $(seq 1 $rounds); do
  for m in "$@"; do
    name=$(basename $m .gguf)
    if [ $((r % 2)) -eq 1 ]; then order="A B"; else order="B A"; fi
    for side in $order; do
      dir=$a; [ $side = B ] && dir=$b
      dotnet $dir/Tandem.Bench.dll engine $m --threads ${THREADS:-2} --pp 16 --tg 128 --kv f16 --tg-from-empty --no-bundle --reps ${REPS:-2} --json $out/$name-$side-r$r.json > $out/$name-$side-r$r.txt 2>&1
      echo "$(date -u +%H:%M:%S) r$r $name $side $(grep -o "$name.gguf |[^|]*|[^|]*|[^|]*|[^|]*|" $out/$name-$side-r$r.txt | awk -F'|' '{print $5}') load $(cut -d' ' -f1-3 /proc/loadavg)"
    done
  done
done
