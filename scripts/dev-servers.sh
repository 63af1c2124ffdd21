#!/usr/bin/env bash
# Starts the same NATS, etcd and S3-compatible servers as .ci/run, in the background, for running
# the distributed suites locally. Prints the exports to paste. Stop them with: kill $(cat /tmp/strata-dev/pids)
set -euo pipefail
cd "$(dirname "$0")/.."
d=/tmp/strata-dev
mkdir -p "$d/s3"
: >"$d/pids"
nats-server -js -a 127.0.0.1 -p 14222 -sd "$d/nats" >"$d/nats.log" 2>&1 & echo $! >>"$d/pids"
etcd --name dev --data-dir "$d/etcd" --listen-client-urls http://127.0.0.1:12379 \
  --advertise-client-urls http://127.0.0.1:12379 --listen-peer-urls http://127.0.0.1:12380 \
  --initial-advertise-peer-urls http://127.0.0.1:12380 --initial-cluster dev=http://127.0.0.1:12380 \
  >"$d/etcd.log" 2>&1 & echo $! >>"$d/pids"
node --openssl-legacy-provider node_modules/s3rver/bin/s3rver.js --directory "$d/s3" --address 127.0.0.1 --port 14568 --silent \
  >"$d/s3.log" 2>&1 & echo $! >>"$d/pids"
sleep 1
echo "export STRATA_TEST_NATS=nats://127.0.0.1:14222 STRATA_TEST_ETCD=http://127.0.0.1:12379 STRATA_TEST_S3=http://127.0.0.1:14568"
