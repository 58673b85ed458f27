#!/usr/bin/env bash
# The test command (README.md): installs what the tests need on a fresh Debian 12 machine, then runs every test.
# With CI=true (set here by default) a missing tool fails the tests; nothing is skipped.
#
#   build/test.sh [extra dotnet test arguments, e.g. --filter FullyQualifiedName~Layers]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CI="${CI:-true}" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Debian packages the tests drive: a real registry, independent image readers, an OCI runtime, a rootfs builder,
# dockerd for `docker load`, htpasswd for the Basic-auth registry, pigz/zstd/xz/bzip2 as reference tools (ADD archives), a static busybox
# to have something runc can run in a FROM-scratch test image, buildah as the peer builder of the differential
# Dockerfile tests (tests/Livrable.Tests/Differential), uidmap (newuidmap) for the rootless RUN tests.
packages=(docker-registry skopeo umoci runc mmdebstrap docker.io apache2-utils pigz zstd xz-utils bzip2 jq busybox-static buildah uidmap python3-jsonschema openssl libcap2-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "build/test.sh: installing ${missing[*]}"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

dotnet build Packaging.sln -c Release -nologo -v:q
dotnet test tests/Livrable.Tests -c Release --no-build -nologo \
  --logger "console;verbosity=normal" --blame-hang-timeout 10m "$@"
