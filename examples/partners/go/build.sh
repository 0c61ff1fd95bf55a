#!/usr/bin/env bash
# Generates Go stubs from the partner kit and builds the Go scenario (GOPATH mode, offline:
# grpc-go and the protobuf runtimes come from Debian's /usr/share/gocode).
# Usage: examples/partners/go/build.sh KIT_DIR OUT_DIR   → OUT_DIR/bin/scenario
set -euo pipefail
kit=$(cd "$1" && pwd) out=$(mkdir -p "$2" && cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

# --- generate ---
# Every kit file gets a Go import path under the local prefix "vgikit/": the vgi packages by
# folder, each google/* file a package of its own. google/rpc is not generated: grpc-go's
# status package decodes error details with genproto's errdetails.
cd "$kit/proto"
files=$(find vgi buf google -name '*.proto' -not -path 'google/rpc/*' | sort)
opts=()
for f in $files; do
	case $f in
		vgi/* | buf/*) pkg=vgikit/$(dirname "$f") ;;
		*) pkg=vgikit/${f%.proto} ;;
	esac
	opts+=("--go_opt=M$f=$pkg" "--go-grpc_opt=M$f=$pkg")
done
mkdir -p "$out/src"
protoc -I . --go_out="$out/src" --go-grpc_out="$out/src" "${opts[@]}" $files
# --- end generate ---

mkdir -p "$out/src/vgikit/scenario" "$out/bin"
cp "$here/scenario.go" "$out/src/vgikit/scenario/main.go"
cd "$out/src/vgikit/scenario"
GO111MODULE=off GOPATH="$out:/usr/share/gocode" GOCACHE="$out/cache" go build -o "$out/bin/scenario" .
