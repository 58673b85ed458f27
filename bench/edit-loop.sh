#!/usr/bin/env bash
# The edit loop of a Dockerfile project (issue 14, item 2), Livrable against `buildah bud --layers` in one run: FROM a
# registry base ($REG/debian-python:bookworm), a RUN that leaves 20,000 small files (as apt-get does; cached after the
# warm-up), WORKDIR, `COPY app/ .` (200 small Python files), `RUN python3 -m compileall -q .`; then ROUNDS one-line
# edits of one app file, each built by both tools in turn (the order alternating), to an image tarball for Livrable
# and to buildah's overlay store. Per run: wall time, and for Livrable its task's time (-clp:PerformanceSummary) and
# each step's time (the progress lines' `DONE 0.41s`); the load average beside every figure.
#
#   bench/edit-loop.sh                   # 5 rounds; table in bench/results/edit-loop.md
#   ROUNDS=3 WORK=/tmp/el bench/edit-loop.sh
#
# Env: ROUNDS (5), WORK (/tmp/livrable-edit-loop), REG (lib.sh: 127.0.0.1:5000, else a registry it starts on 5001),
#      BUILDAH_DRIVER (overlay), OUT_MD (bench/results/edit-loop.md), FILES (20000: files the cached RUN leaves).
# Needs: root, dotnet, buildah, skopeo, GNU time; ../shared/bench beside this repository (lib.sh, seed-registry.sh).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$REPO/../shared/bench}"
[[ -f "$SHARED/lib.sh" ]] || { echo "edit-loop.sh: $SHARED/lib.sh not found (../shared/bench beside the repository)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$SHARED/lib.sh"      # log, median, ensure_registry; REG
# shellcheck source=feed.sh
. "$REPO/bench/feed.sh"  # pack_livrable, app_folder

ROUNDS="${ROUNDS:-5}"
WORK="${WORK:-/tmp/livrable-edit-loop}"
BUILDAH_DRIVER="${BUILDAH_DRIVER:-overlay}"
OUT_MD="${OUT_MD:-$REPO/bench/results/edit-loop.md}"
FILES="${FILES:-20000}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
DOTNET_FLAGS="-tl:off -nodeReuse:false -p:UseSharedCompilation=false -clp:PerformanceSummary"
for t in dotnet buildah skopeo /usr/bin/time; do command -v "$t" >/dev/null || { log "missing $t"; exit 1; }; done

ensure_registry
if ! skopeo inspect --raw --tls-verify=false "docker://$REG/debian-python:bookworm" >/dev/null 2>&1; then
  log "$REG/debian-python:bookworm missing: seeding"; REG="$REG" "$SHARED/seed-registry.sh" >&2
fi
rm -rf "$WORK"; mkdir -p "$WORK"/{feed,logs,out,state,ctx/app,app} "$(dirname "$OUT_MD")"

# ------------------------------------------------------------------ the context
CTX="$WORK/ctx"
DIRS=$(( (FILES + 99) / 100 ))
cat > "$CTX/Dockerfile" <<EOF
FROM $REG/debian-python:bookworm
RUN python3 -c "import os; [os.makedirs(f'/usr/share/many/{d:03}', exist_ok=True) or [open(f'/usr/share/many/{d:03}/f{i:03}.txt', 'w').write(f'file {d} {i}\\\\n' * 20) for i in range(100)] for d in range($DIRS)]"
WORKDIR /app
COPY app/ .
RUN python3 -m compileall -q .
EOF
for d in $(seq -w 0 9); do
  mkdir -p "$CTX/app/pkg$d"
  for i in $(seq -w 0 19); do printf 'def f%s():\n    return "%s"\n' "$i" "$i" > "$CTX/app/pkg$d/m$i.py"; done
done
EDIT="$CTX/app/pkg0/m00.py"

# ------------------------------------------------------------------ Livrable: this repository, packed
pack_livrable "$REPO" "$WORK/feed" "$WORK/logs/pack.log"
app_folder "$WORK/app" "$WORK/feed" "$WORK/nuget-packages"
cat > "$WORK/app/small.csproj" <<EOF
<Project Sdk="Livrable.Sdk/$LIV_VERSION">
  <PropertyGroup>
    <ContainerRepository>small</ContainerRepository>
    <ContainerDockerfile>$CTX/Dockerfile</ContainerDockerfile>
    <ContainerBuildContext>$CTX</ContainerBuildContext>
    <ContainerArchiveOutputPath>$WORK/out/small.tar</ContainerArchiveOutputPath>
    <ContainerStateDirectory>$WORK/state/livrable</ContainerStateDirectory>
    <ContainerInsecureRegistries>$REG</ContainerInsecureRegistries>
  </PropertyGroup>
</Project>
EOF
BH=(buildah --root "$WORK/state/buildah/root" --runroot "$WORK/state/buildah/run" --storage-driver "$BUILDAH_DRIVER")
livrable_cmd="cd $WORK/app && exec dotnet publish $DOTNET_FLAGS -v:d"
buildah_cmd="cd $CTX && exec ${BH[*]} bud --layers --isolation chroot --tls-verify=false -t small-buildah:latest ."

RAW="$WORK/results.tsv"
printf 'round\ttool\twall_s\ttask_ms\tload1\tsteps\n' > "$RAW"
run() {  # run ROUND TOOL
  local logf="$WORK/logs/$2-$1.log" cmd load1 wall task=NA steps=""
  [[ "$2" == livrable ]] && cmd="$livrable_cmd" || cmd="$buildah_cmd"
  load1=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f '%e' -o "$logf.time" bash -c "$cmd" > "$logf" 2>&1 || { tail -20 "$logf" >&2; log "$2 failed (round $1)"; exit 1; }
  wall=$(tail -1 "$logf.time")
  if [[ "$2" == livrable ]]; then
    task=$(awk '/Task Performance Summary:/ { s = 1; next } s && $2 == "ms" && $3 == "BuildContainerImage" { print $1 }' "$logf")
    # Each step's time, and the phases of the detailed log (plan, layers, runtime, diff, layer write).
    steps=$(grep -aoE '\[[0-9]+/[0-9]+\] DONE [0-9.]+s|(plan|layers|overlay|runtime|diff|layer write|lower folder|context hashing):.* [0-9.]+s$' "$logf" \
      | sed -E 's/^\[([0-9]+)\/[0-9]+\] DONE (.*)/#\1 \2;/; s/:.* ([0-9.]+s)$/ \1/' | paste -sd' ' || true)
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$wall" "$task" "$load1" "$steps" >> "$RAW"
  log "round $1 $2: ${wall}s (task ${task} ms, load $load1) $steps"
}

log "warm-up: cold builds (untimed), then one edit each"
run 0 livrable; run 0 buildah
echo "# warm-up edit" >> "$EDIT"; run 0 livrable; run 0 buildah
for r in $(seq 1 "$ROUNDS"); do
  echo "# edit $r" >> "$EDIT"
  if (( r % 2 )); then run "$r" livrable; run "$r" buildah; else run "$r" buildah; run "$r" livrable; fi
done
skopeo inspect "oci-archive:$WORK/out/small.tar" | jq -c '{Digest, Layers: (.Layers | length)}' > "$WORK/check.json"

col() { awk -F'\t' -v t="$1" -v c="$2" 'NR > 1 && $1 > 0 && $2 == t { print $c }' "$RAW"; }
# shellcheck disable=SC2046
L=$(median $(col livrable 3)); B=$(median $(col buildah 3)); T=$(median $(col livrable 4)); LOAD=$(median $(col livrable 5))
{
  echo "Edit loop, $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), $ROUNDS rounds, medians; load average (1 min) $LOAD"
  echo
  echo "| case | Livrable s | Livrable task s | buildah bud --layers s | Livrable / buildah |"
  echo "|---|---|---|---|---|"
  printf '| FROM registry, cached RUN of %s files, COPY 200 files, RUN compileall; one-line edit | %s | %.2f | %s | %.2f× |\n' \
    "$FILES" "$L" "$(awk -v t="$T" 'BEGIN { print t / 1000 }')" "$B" "$(awk -v a="$L" -v b="$B" 'BEGIN { print a / b }')"
  echo
  echo "Livrable's steps per round (\`#n\` the step's DONE time; the phases of the detailed log):"
  echo
  awk -F'\t' 'NR > 1 && $1 > 0 && $2 == "livrable" { printf "- round %s (load %s): %s s, task %s ms: %s\n", $1, $5, $3, $4, $6 }' "$RAW"
  echo
  echo "Last image: \`$(cat "$WORK/check.json")\`"
} | tee "$OUT_MD"
