#!/usr/bin/env bash
# Workload p (issue 13, item 2): what building at the same time gains. A Dockerfile with two independent build stages,
# each one RUN of CPU work (python3 hashing, offline) on $REG/debian-python:bookworm, and a final stage FROM scratch
# that copies both results. The build stages run on the build platform (`FROM --platform=$BUILDPLATFORM`, the
# cross-compiling pattern) and read TARGETARCH, so a two-platform build (linux/amd64 + linux/arm64) runs four different
# RUNs on this amd64 machine, with no emulator. Cases:
#   1 platform:  Livrable ContainerMaxParallelism=1 against the default (the core count); buildah bud --jobs 1 and 2;
#   2 platforms: the same for Livrable (ContainerPlatforms); buildah bud --platform linux/amd64,linux/arm64 --jobs 1/2.
# Every run executes every RUN (Livrable ContainerNoCache=true, buildah --no-cache) with the base image already
# pulled, so what is timed is the steps and the image, not a download. Timed: the whole `dotnet publish` of an image
# project (wall), and Livrable's own task time (Task Performance Summary); buildah's whole command.
#
# Env: ROUNDS (3), ITER (python hashing iterations per RUN: 2500000, about 2-3 s on one core here), WORK
#      (/tmp/livrable-bench-p), REG (lib.sh: 127.0.0.1:5000, else its registry on 127.0.0.1:5001), FEED and
#      LIV_VERSION (a Livrable.Sdk feed already packed, as run.sh passes it; packed from this repository otherwise),
#      OUT_MD (bench/results/parallel.md), BUILDAH_DRIVER (overlay).
# Run as root:  bench/parallel.sh        or, with the other workloads:  WORKLOADS=p bench/run.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$REPO/../shared/bench}"
# shellcheck source=/dev/null
. "$SHARED/lib.sh"      # log, median, ensure_registry; REG
# shellcheck source=feed.sh
. "$REPO/bench/feed.sh"  # pack_livrable, app_folder

ROUNDS="${ROUNDS:-3}"
ITER="${ITER:-2500000}"
WORK="${WORK_P:-/tmp/livrable-bench-p}"
OUT_MD="${OUT_MD_P:-$REPO/bench/results/parallel.md}"
BUILDAH_DRIVER="${BUILDAH_DRIVER:-overlay}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
DOTNET_FLAGS=(-tl:off -nodeReuse:false -p:UseSharedCompilation=false -clp:PerformanceSummary)

ensure_registry
if ! skopeo inspect --raw --tls-verify=false "docker://$REG/debian-python:bookworm" >/dev/null 2>&1; then
  log "$REG/debian-python:bookworm missing: seeding"; REG="$REG" "$SHARED/seed-registry.sh" >&2
fi
mkdir -p "$WORK/logs" "$WORK/ctx" "$WORK/app" "$(dirname "$OUT_MD")"

# ------------------------------------------------------------------ Livrable: this repository's package
if [[ -z "${FEED:-}" ]]; then
  FEED="$WORK/feed"
  pack_livrable "$REPO" "$FEED" "$WORK/logs/pack.log"
fi
app_folder "$WORK" "$FEED" "$WORK/nuget-packages"

# ------------------------------------------------------------------ the Dockerfile and the image project
work_run() {  # the RUN of one stage: ITER rounds of sha256, its result named for the stage and the target
  echo "RUN mkdir /out && python3 -c \"import hashlib; h = b'$1 '; exec('for _ in range($ITER): h = hashlib.sha256(h).digest()'); print('$1', '\$TARGETARCH', h.hex())\" > /out/$1.txt"
}
cat > "$WORK/ctx/Dockerfile" <<EOF
FROM --platform=\$BUILDPLATFORM $REG/debian-python:bookworm AS left
ARG TARGETARCH
$(work_run left)

FROM --platform=\$BUILDPLATFORM $REG/debian-python:bookworm AS right
ARG TARGETARCH
$(work_run right)

FROM scratch
COPY --from=left /out/ /
COPY --from=right /out/ /
EOF
cat > "$WORK/app/p.csproj" <<EOF
<Project Sdk="Livrable.Sdk/$LIV_VERSION">
  <PropertyGroup>
    <ContainerRepository>bench-p</ContainerRepository>
    <ContainerDockerfile>$WORK/ctx/Dockerfile</ContainerDockerfile>
    <ContainerBuildContext>$WORK/ctx</ContainerBuildContext>
    <ContainerArchiveOutputPath>$WORK/out/p.tar</ContainerArchiveOutputPath>
    <ContainerStateDirectory>$WORK/state/livrable</ContainerStateDirectory>
    <ContainerInsecureRegistries>$REG</ContainerInsecureRegistries>
    <ContainerNoCache>true</ContainerNoCache>
  </PropertyGroup>
</Project>
EOF
BH=(buildah --root "$WORK/state/buildah/root" --runroot "$WORK/state/buildah/run" --storage-driver "$BUILDAH_DRIVER")
# Livrable's own time: its image task's line in MSBuild's Task Performance Summary, in ms.
own_ms() { awk '/Task Performance Summary:/ {s = 1; next} s && $2 == "ms" && $3 == "BuildContainerImage" {print $1; f = 1} END {if (!f) print "NA"}' "$1"; }

RAW="$WORK/results.tsv"
printf 'case\ttool\tround\twall_s\town_ms\tload1\trc\tdigest\n' > "$RAW"
run() {  # run CASE TOOL ROUND CMD...: one timed run, a row in $RAW
  local c="$1" t="$2" r="$3"; shift 3
  local logf="$WORK/logs/$c-$t-$r.log" t0 t1 rc=0 load1 own digest=NA
  load1=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s.%N); "$@" > "$logf" 2>&1 || rc=$?; t1=$(date +%s.%N)
  own=NA; [[ "$t" == livrable* ]] && own=$(own_ms "$logf")
  [[ "$t" == livrable* ]] && digest=$(grep -oE 'Built bench-p:latest sha256:[0-9a-f]{12}' "$logf" | tail -1 | awk '{print $3}' || true)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$t" "$r" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')" "$own" "$load1" "$rc" "${digest:-NA}" >> "$RAW"
  log "p $c $t #$r: $(tail -1 "$RAW" | cut -f4)s (own $own ms, load $load1) rc=$rc"
  [[ "$rc" == 0 ]] || tail -15 "$logf" >&2
}
livrable() {  # livrable BOUND PLATFORMS
  local p=(); [[ "$2" == 2 ]] && p=("-p:ContainerPlatforms=linux/amd64%3Blinux/arm64")
  (cd "$WORK/app" && dotnet publish "${DOTNET_FLAGS[@]}" "-p:ContainerMaxParallelism=$1" "${p[@]}")
}
buildah_bud() {  # buildah_bud JOBS PLATFORMS
  if [[ "$2" == 2 ]]; then
    "${BH[@]}" manifest rm bench-p-list >/dev/null 2>&1 || true
    (cd "$WORK/ctx" && "${BH[@]}" bud --no-cache --isolation chroot --tls-verify=false --jobs "$1" \
       --platform linux/amd64,linux/arm64 --manifest bench-p-list .)
  else
    (cd "$WORK/ctx" && "${BH[@]}" bud --no-cache --isolation chroot --tls-verify=false --jobs "$1" -t bench-p:latest .)
  fi
}

# Warm-up (untimed): restore the project, pull the base into Livrable's state folder and buildah's store.
log "warm-up"
(cd "$WORK/app" && dotnet restore -nodeReuse:false) > "$WORK/logs/restore.log" 2>&1 || { tail -20 "$WORK/logs/restore.log"; exit 1; }
livrable 2 1 > "$WORK/logs/warmup-livrable.log" 2>&1 || { tail -20 "$WORK/logs/warmup-livrable.log"; exit 1; }
BUILDAH_OK=1
command -v buildah >/dev/null || BUILDAH_OK=0
if ((BUILDAH_OK)); then "${BH[@]}" pull --tls-verify=false "$REG/debian-python:bookworm" > "$WORK/logs/warmup-buildah.log" 2>&1 || BUILDAH_OK=0; fi

CORES=$(nproc)
for ((round = 1; round <= ROUNDS; round++)); do
  for n in 1 2; do
    run "$n" livrable-1 "$round" livrable 1 "$n"
    run "$n" livrable-default "$round" livrable "$CORES" "$n"
    if ((BUILDAH_OK)); then
      run "$n" buildah-jobs1 "$round" buildah_bud 1 "$n"
      run "$n" buildah-jobs2 "$round" buildah_bud 2 "$n"
    fi
  done
done

# ------------------------------------------------------------------ the table
val() {  # val CASE TOOL COLUMN -> the median of the successful runs, or NA
  local vals; vals=$(awk -F'\t' -v c="$1" -v t="$2" -v k="$3" 'NR==1{for(i=1;i<=NF;i++) if($i==k) n=i; next} $1==c && $2==t && $7==0 && $n!="NA" {print $n}' "$RAW")
  # shellcheck disable=SC2086
  if [[ -z "$vals" ]]; then echo NA; else median $vals; fi
}
gain() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="NA" || b=="NA" || b+0==0) print "NA"; else printf "%.2f×", a/b }'; }
fmt() { awk -v a="$1" -v d="${2:-1}" 'BEGIN{ if (a=="NA") print "NA"; else printf "%.2f", a/d }'; }
digests() { awk -F'\t' -v c="$1" '$1==c && $2 ~ /^livrable/ && $7==0 {print $8}' "$RAW" | sort -u | paste -sd' '; }
{
  echo "Run $(date -u +%Y%m%dT%H%M%SZ) on $CORES cores ($(lscpu | awk -F': +' '/Model name/{print $2; exit}')), Livrable $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null),"
  echo "buildah $(buildah --version 2>/dev/null | awk '{print $3}' || echo –); ROUNDS=$ROUNDS ITER=$ITER; load average (1 min) at the start of the runs:"
  echo "$(awk -F'\t' 'NR>1{s+=$6; n++; if($6>m) m=$6} END{printf "mean %.1f, max %.1f", s/n, m}' "$RAW") (on $CORES cores). Medians of $ROUNDS runs, seconds."
  echo
  echo "| case | Livrable bound 1: wall (own) | Livrable default ($CORES): wall (own) | gain wall (own) | buildah --jobs 1 | buildah --jobs 2 | buildah gain |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for n in 1 2; do
    label="two stages, 1 platform (2 RUNs)"; [[ "$n" == 2 ]] && label="two stages, 2 platforms (4 RUNs)"
    w1=$(val "$n" livrable-1 wall_s); o1=$(val "$n" livrable-1 own_ms); wd=$(val "$n" livrable-default wall_s); od=$(val "$n" livrable-default own_ms)
    b1=$(val "$n" buildah-jobs1 wall_s); b2=$(val "$n" buildah-jobs2 wall_s)
    echo "| $label | $(fmt "$w1") ($(fmt "$o1" 1000)) | $(fmt "$wd") ($(fmt "$od" 1000)) | $(gain "$w1" "$wd") ($(gain "$o1" "$od")) | $(fmt "$b1") | $(fmt "$b2") | $(gain "$b1" "$b2") |"
  done
  echo
  echo "Livrable's image digests (the same whatever the bound): 1 platform $(digests 1); 2 platforms (index) $(digests 2)."
  ((BUILDAH_OK)) || echo "buildah: not installed or could not pull the base (see $WORK/logs/warmup-buildah.log)."
} > "$WORK/parallel.md"
cp "$WORK/parallel.md" "$OUT_MD"
cat "$WORK/parallel.md"
