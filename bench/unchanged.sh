#!/usr/bin/env bash
# An unchanged publish in a fresh process, taken apart (issue 14, item 3: unchanged / cold at most 0.1 on workload b).
# Three projects, each published cold once (untimed), then ROUNDS times unchanged, each a new `dotnet publish` process:
#   b: an image project, FROM $REG/debian-python:bookworm (a tag: one manifest HEAD) + COPY . /data of the 20,000-file
#      context of ../shared/bench/make-workload.sh (as bench/run.sh's workload b), to an image tarball;
#   bp: b with its base pinned by digest (FROM $REG/debian-python@sha256:...): MSBuild's up-to-date check of the image
#       step's inputs (the context walked by WriteContainerImageInputs) skips the step, no request at all;
#   a: the hello console app in properties mode, framework-dependent on $REG/dotnet-runtime:10.0, to an image tarball.
# Per run: the wall time (taken around the process, to the millisecond), Livrable's task time, its targets' time and
# the project's evaluation time (-clp:PerformanceSummary); and, from one more run with the runtime's JIT summary
# (DOTNET_JitStdOutFile), how many methods the process compiled at run time in all and from the start of Livrable's
# first task: code the ReadyToRun image of the task assembly does not hold, compiled on the build's time.
#
#   bench/unchanged.sh                       # 7 rounds; table in bench/results/unchanged.md
#   ROUNDS=3 WORK=/tmp/unch bench/unchanged.sh
#
# Env: ROUNDS (7), WORK (/tmp/livrable-unchanged), REG (lib.sh), OUT_MD (bench/results/unchanged.md),
#      PROJECTS ("b bp a").
# Needs: root, dotnet, skopeo, GNU time; ../shared/bench beside this repository (lib.sh, make-workload.sh, seed-registry.sh).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$REPO/../shared/bench}"
[[ -f "$SHARED/lib.sh" ]] || { echo "unchanged.sh: $SHARED/lib.sh not found (../shared/bench beside the repository)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$SHARED/lib.sh"      # log, median, ensure_registry; REG
# shellcheck source=feed.sh
. "$REPO/bench/feed.sh"  # pack_livrable, app_folder

ROUNDS="${ROUNDS:-7}"
WORK="${WORK:-/tmp/livrable-unchanged}"
OUT_MD="${OUT_MD:-$REPO/bench/results/unchanged.md}"
PROJECTS="${PROJECTS:-b bp a}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
DOTNET_FLAGS="-tl:off -nodeReuse:false -p:UseSharedCompilation=false -clp:PerformanceSummary"
for t in dotnet skopeo /usr/bin/time; do command -v "$t" >/dev/null || { log "missing $t"; exit 1; }; done

ensure_registry
for image in debian-python:bookworm dotnet-runtime:10.0; do
  if ! skopeo inspect --raw --tls-verify=false "docker://$REG/$image" >/dev/null 2>&1; then
    log "$REG/$image missing: seeding"; REG="$REG" "$SHARED/seed-registry.sh" >&2; break
  fi
done
rm -rf "$WORK"; mkdir -p "$WORK"/{feed,logs,out,state,apps/b,apps/bp,apps/a} "$(dirname "$OUT_MD")"

# ------------------------------------------------------------------ Livrable: this repository, packed
pack_livrable "$REPO" "$WORK/feed" "$WORK/logs/pack.log"
app_folder "$WORK/apps" "$WORK/feed" "$WORK/nuget-packages"

# ------------------------------------------------------------------ the two projects
WL=/tmp/workload/big
WL_DIR=$WL REG="$REG" "$SHARED/make-workload.sh" >&2
cat > "$WORK/apps/b/big.csproj" <<EOF
<Project Sdk="Livrable.Sdk/$LIV_VERSION">
  <PropertyGroup>
    <ContainerRepository>big</ContainerRepository>
    <ContainerDockerfile>$WL/Dockerfile</ContainerDockerfile>
    <ContainerBuildContext>$WL</ContainerBuildContext>
    <ContainerArchiveOutputPath>$WORK/out/b.tar</ContainerArchiveOutputPath>
    <ContainerStateDirectory>$WORK/state/b</ContainerStateDirectory>
  </PropertyGroup>
</Project>
EOF
# bp: the same image, its base named by the digest the tag names now (same image digest as b's).
base_digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/debian-python:bookworm")
printf 'FROM %s/debian-python@%s\nCOPY . /data\n' "$REG" "$base_digest" > "$WORK/apps/bp/Dockerfile"
sed -e "s|<ContainerDockerfile>$WL/Dockerfile<|<ContainerDockerfile>$WORK/apps/bp/Dockerfile<|; s|/out/b.tar<|/out/bp.tar<|; s|/state/b<|/state/bp<|" \
  "$WORK/apps/b/big.csproj" > "$WORK/apps/bp/big.csproj"
cat > "$WORK/apps/a/hello.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ContainerBaseImage>$REG/dotnet-runtime:10.0</ContainerBaseImage>
    <ContainerRepository>hello</ContainerRepository>
    <ContainerArchiveOutputPath>$WORK/out/a.tar</ContainerArchiveOutputPath>
    <ContainerStateDirectory>$WORK/state/a</ContainerStateDirectory>
  </PropertyGroup>
  <ItemGroup><PackageReference Include="Livrable.Sdk" Version="$LIV_VERSION" /></ItemGroup>
</Project>
EOF
echo 'System.Console.WriteLine("Hello from an unchanged publish");' > "$WORK/apps/a/Program.cs"

RAW="$WORK/results.tsv"
printf 'project\tround\twall_s\ttask_ms\ttargets_ms\teval_ms\tload1\n' > "$RAW"
TARGETS=$(grep -ohE '<Target Name="[^"]+"' "$REPO"/src/Sdk/Sdk/*.targets "$REPO"/src/Sdk/build/*.targets | sed -E 's/.*"([^"]+)"/\1/' | sort -u | paste -sd' ')
TASKS=$(grep -ohE '<UsingTask [^>]*TaskName="[^"]+"' "$REPO"/src/Sdk/Sdk/*.props "$REPO"/src/Sdk/Sdk/*.targets "$REPO"/src/Sdk/build/*.props "$REPO"/src/Sdk/build/*.targets \
  | sed -E 's/.*TaskName="([^"]+)"/\1/; s/.*\.//' | sort -u | paste -sd' ')
summed() {  # summed LOG "NAME..." Target|Task -> the sum of those lines of that performance summary, in ms
  awk -v names="$2" -v kind="$3" 'BEGIN { n = split(names, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
    /Performance Summary:/ { s = ($1 == kind); next }
    s && $2 == "ms" && ($3 in want) { t += $1; found = 1 } END { if (found) print t; else print "NA" }' "$1"
}
publish() {  # publish PROJECT ROUND [ENV...]: one `dotnet publish`, its wall time in s on stdout
  local p="$1" r="$2" logf="$WORK/logs/$1-$2.log" t0 t1; shift 2
  t0=$(date +%s%N)
  (cd "$WORK/apps/$p" && env "$@" dotnet publish $DOTNET_FLAGS) > "$logf" 2>&1 || { tail -20 "$logf" >&2; log "$p failed (round $r)"; exit 1; }
  t1=$(date +%s%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'
}

for p in $PROJECTS; do
  log "$p: cold (untimed)"
  publish "$p" 0 > /dev/null
  for r in $(seq 1 "$ROUNDS"); do
    load1=$(cut -d' ' -f1 /proc/loadavg)
    wall=$(publish "$p" "$r")
    logf="$WORK/logs/$p-$r.log"
    grep -q "Up to date" "$logf" || log "$p round $r: no 'Up to date' line (the image step did not run, or wrote)"
    eval_ms=$(awk '/Project Evaluation Performance Summary:/ { s = 1; next } s && $2 == "ms" { print $1; exit }' "$logf")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$r" "$wall" "$(summed "$logf" "$TASKS" Task)" "$(summed "$logf" "$TARGETS" Target)" \
      "${eval_ms:-NA}" "$load1" >> "$RAW"
    log "$p round $r: ${wall}s (load $load1)"
  done
  # The run-time compiled methods: all, and from the first of Livrable's tasks on (MSBuild's own compile too, but
  # nothing of MSBuild's start-up).
  publish "$p" jit DOTNET_JitStdOutFile="$WORK/logs/$p-jit.txt" DOTNET_JitDisasmSummary=1 > /dev/null
  awk -v p="$p" '/Livrable\./ { if (!first) first = NR; n++ } END { print p, NR, (first ? NR - first + 1 : 0), n + 0 }' "$WORK/logs/$p-jit.txt" >> "$WORK/jit.txt"
done

col() { awk -F'\t' -v p="$1" -v c="$2" 'NR > 1 && $1 == p { print $c }' "$RAW"; }
{
  echo "Unchanged publish, $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'), $ROUNDS rounds, medians; load average (1 min) $(median $(awk -F'\t' 'NR > 1 { print $7 }' "$RAW"))"
  echo
  echo "| project | wall s | Livrable's tasks ms | Livrable's targets ms | evaluation ms | methods compiled at run time: all / from Livrable's first / naming Livrable |"
  echo "|---|---|---|---|---|---|"
  for p in $PROJECTS; do
    # shellcheck disable=SC2046
    printf '| %s | %s (%s) | %s | %s | %s | %s |\n' "$p" "$(median $(col "$p" 3))" "$(col "$p" 3 | paste -sd' ')" \
      "$(median $(col "$p" 4))" "$(median $(col "$p" 5))" "$(median $(col "$p" 6))" \
      "$(awk -v p="$p" '$1 == p { print $2 " / " $3 " / " $4 }' "$WORK/jit.txt")"
  done
  echo
  echo "Logs: \`$WORK/logs\` (the JIT summaries: \`<project>-jit.txt\`)."
} | tee "$OUT_MD"
