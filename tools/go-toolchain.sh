#!/usr/bin/env bash
# Installs the Go toolchain the partner-kit Go client needs, from Debian, when missing:
# golang-go, the grpc-go and goprotobuf sources (GOPATH-style under /usr/share/gocode),
# protoc-gen-go-grpc and protoc. Offline but for the apt mirror; idempotent.
set -euo pipefail
packages=(golang-go golang-google-grpc-dev golang-goprotobuf-dev protoc-gen-go-grpc protobuf-compiler)
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
