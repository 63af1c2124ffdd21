#!/usr/bin/env bash
# Starts a whole Strata cluster on this machine, everything on 127.0.0.1: NATS JetStream (4222),
# etcd (2379), an S3-compatible server (s3rver, 9000), then one process per role group with
# examples/cluster.yaml: coordinators (rootcoord + dataservice + queryservice), 2 data nodes,
# 2 query nodes, 1 index node and a proxy serving the Milvus API on 19530.
#   scripts/local-cluster.sh            start (logs and data under ./strata-cluster)
#   scripts/local-cluster.sh stop       stop everything it started
# Needs nats-server and etcd on PATH (Debian: apt-get install nats-server etcd-server).
set -euo pipefail
cd "$(dirname "$0")/.."
d=${STRATA_CLUSTER_DIR:-./strata-cluster}
mkdir -p "$d"
if [ "${1:-}" = "stop" ]; then
  [ -f "$d/pids" ] && tac "$d/pids" | while read -r p; do kill "$p" 2>/dev/null || true; done
  rm -f "$d/pids"
  echo "stopped"
  exit 0
fi
for bin in nats-server etcd; do
  command -v "$bin" >/dev/null || { echo "$bin not found (apt-get install nats-server etcd-server)" >&2; exit 1; }
done
: >"$d/pids"
start() { # name, command...
  local name=$1; shift
  "$@" >"$d/$name.log" 2>&1 &
  echo $! >>"$d/pids"
}
wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done
  echo "port $1 did not open; see $d/*.log" >&2; exit 1
}
start nats nats-server -js -a 127.0.0.1 -p 4222 -sd "$d/nats"
start etcd etcd --name strata --data-dir "$d/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster strata=http://127.0.0.1:2380
mkdir -p "$d/s3"
start s3 node --openssl-legacy-provider node_modules/s3rver/bin/s3rver.js --directory "$d/s3" \
  --address 127.0.0.1 --port 9000 --silent
wait_port 4222; wait_port 2379; wait_port 9000

run() { # name, roles...
  local name=$1; shift
  start "$name" node bin/strata.mjs run "$@" --config examples/cluster.yaml --data-dir "$d/$name" --log-format pretty
}
run coordinators rootcoord dataservice queryservice
sleep 3
run datanode-1 datanode
run datanode-2 datanode
run querynode-1 querynode
run querynode-2 querynode
run indexnode-1 indexnode
run proxy proxy --port 19530
wait_port 19530
echo "Strata cluster up: Milvus gRPC + REST on 127.0.0.1:19530; logs in $d/*.log"
echo "stop it with: $0 stop"
