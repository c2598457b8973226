#!/usr/bin/env bash
# Regenerates everything derived from proto/: protoc-c's C codec (CModules/CSwiftVerseProto)
# and the Swift message API (Sources/VerseProtobuf/Generated). Deterministic: running it
# twice gives byte-identical files (tools/check-protos.sh relies on that).
# Usage: tools/gen-protos.sh PYTHON   (a python with the `protobuf` package)
set -euo pipefail
python=${1:?usage: gen-protos.sh PYTHON}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

protos=$(cd proto && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
wkt="google/protobuf/any.proto google/protobuf/empty.proto"

# protoc-c gets copies without `service` blocks: the C codec needs only messages, and
# protoc-c's service stubs would name a struct member after the rpc, and `Register`
# (gate.GateService) becomes the C keyword `register`.
mkdir -p "$tmp/c" "$tmp/messages"
(cd proto && find . -name '*.proto') | while read -r f; do
  mkdir -p "$tmp/messages/$(dirname "$f")"
  perl -0pe 's/^service\s+\w+\s*\{(?:[^{}]|\{[^{}]*\})*\}\n?//gms' "proto/$f" > "$tmp/messages/$f"
done
# Without their services, some imports are unused; protoc's warning about that is noise.
# shellcheck disable=SC2086
if ! out=$(protoc --c_out="$tmp/c" -I "$tmp/messages" -I /usr/include $protos $wkt 2>&1); then
  echo "$out" >&2; exit 1
fi
echo "$out" | grep -v 'is unused' >&2 || true
# shellcheck disable=SC2086
protoc --descriptor_set_out="$tmp/set.pb" --include_imports -I proto -I /usr/include $protos $wkt

target=CModules/CSwiftVerseProto
rm -rf "$target"
mkdir -p "$target/include"
(cd "$tmp/c" && find . -name '*.pb-c.c') | while read -r f; do
  mkdir -p "$target/$(dirname "$f")"; cp "$tmp/c/$f" "$target/$f"
done
(cd "$tmp/c" && find . -name '*.pb-c.h') | while read -r f; do
  mkdir -p "$target/include/$(dirname "$f")"; cp "$tmp/c/$f" "$target/include/$f"
done
"$python" tools/gen_swift_protos.py "$tmp/set.pb" "$target" Sources/VerseProtobuf/Generated
echo "regenerated $target and Sources/VerseProtobuf/Generated"
