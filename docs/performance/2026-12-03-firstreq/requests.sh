# Sourced by single.sh and cluster.sh: the timed client requests against $addr, into $out (times.txt, responses, /metrics).
time_requests() {
  for i in 1 2 3; do
    curl -s -o $out/resp$i.json -w "request$i wall_s %{time_total}\n" ${addr}v1/completions -H 'Content-Type: application/json' \
     -d '{"model":"stories260K","prompt":"Once upon a time","max_tokens":16,"temperature":0}' >> $out/times.txt
  done
  curl -s -o $out/chat1.json -w "chat1 wall_s %{time_total}\n" ${addr}v1/chat/completions -H 'Content-Type: application/json' -d '{"model":"stories260K","messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":16,"temperature":0}' >> $out/times.txt
  curl -s -o $out/stream1.txt -w "stream1 wall_s %{time_total}\n" ${addr}v1/completions -H 'Content-Type: application/json' -d '{"model":"stories260K","prompt":"Lily went","max_tokens":16,"temperature":0,"stream":true}' >> $out/times.txt
  curl -s ${addr}metrics > $out/metrics.txt
}
