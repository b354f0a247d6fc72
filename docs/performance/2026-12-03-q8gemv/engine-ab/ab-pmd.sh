#!/bin/bash
# ab.sh plus, per run, how much of the model file the process has mapped with 2 MiB pages (FilePmdMapped in smaps)
out=$1; rounds=$2; a=$3; b=$4; shift 4
mkdir -p $out
for r in $(seq 1 $rounds); do
  for m in "$@"; do
    name=$(basename $m .gguf)
    if [ $((r % 2)) -eq 1 ]; then order="A B"; else order="B A"; fi
    for side in $order; do
      dir=$a; [ $side = B ] && dir=$b
      dotnet $dir/Tandem.Bench.dll engine $m --threads ${THREADS:-2} --pp 16 --tg 128 --kv f16 --tg-from-empty --no-bundle --reps ${REPS:-2} --json $out/$name-$side-r$r.json > $out/$name-$side-r$r.txt 2>&1 &
      bg=$!
      sleep ${PMD_AT:-6}
      pid=$(pgrep -P $bg | head -1); [ -z "$pid" ] && pid=$bg
      pmd=$(awk -v f="$name" '$0 ~ f {p=1; next} /^[0-9a-f]+-[0-9a-f]+ /{p=0} p && /^(Rss|FilePmdMapped):/{printf "%s %d MB ", $1, $2/1024}' /proc/$pid/smaps 2>/dev/null)
      wait $bg
      echo "$(date -u +%H:%M:%S) r$r $name $side $(grep -o "$name.gguf |[^|]*|[^|]*|[^|]*|[^|]*|" $out/$name-$side-r$r.txt | awk -F'|' '{print $5}') $pmd load $(cut -d' ' -f1-3 /proc/loadavg)"
    done
  done
done
