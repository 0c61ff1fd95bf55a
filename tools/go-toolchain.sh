#!/usr/bin/env bash
# Installs the Go toolchain the partner-kit Go client test needs, from Debian, when missing:
# golang-go, grpc-go and the protobuf runtimes (GOPATH-style sources under /usr/share/gocode),
# protoc-gen-go, protoc-gen-go-grpc and protoc. Offline but for the apt mirror; idempotent.
# protoc-gen-go is Debian's APIv2 generator (1.28) with golang/protobuf 1.5: the contracts use
# proto3 `optional`, which golang-goprotobuf-dev's 1.3 generator predates (apt replaces it).
set -euo pipefail
packages=(golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev
	protoc-gen-go protoc-gen-go-grpc protobuf-compiler)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]} (apt)"
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
