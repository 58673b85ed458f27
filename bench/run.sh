#!/usr/bin/env bash
# Livrable against the .NET SDK's built-in container support (Microsoft.NET.Build.Containers), on one hello console app.
#
# For each variant (fdd: framework-dependent on $REG/dotnet-runtime:10.0; scd: self-contained linux-x64 on
# $REG/dotnet-deps:bookworm), each destination (push: the registry; tar: an image tarball) and each tool:
#   cold       no bin/obj, empty image cache (Livrable's ContainerStateDirectory / the SDK's XDG_CACHE_HOME),
#              the app's repository removed from the registry
#   unchanged  the same command again, N times
#   edit       after a one-line change to Program.cs (the message)
# all of it ROUNDS times; the table shows medians (cold and edit: of ROUNDS runs; unchanged: of ROUNDS x N runs).
# Each run is one `dotnet publish -t:PublishContainer`; recorded: its wall time, the image task's own time (Livrable:
# BuildContainerImage, SDK: CreateNewImage, from -clp:PerformanceSummary), CPU time and peak RSS (/usr/bin/time -v)
# and, for pushes, the blob bytes the registry received (from its access log). The last image of each scenario is
# checked with skopeo and run with umoci + runc. Raw rows go to $WORK/results/*.tsv, the summary into bench/README.md.
#
# Env: REG (127.0.0.1:5000), N (3), ROUNDS (3), VARIANTS ("fdd scd"), DESTS ("push tar"), TOOLS ("livrable ms"),
#      WORK (/tmp/livrable-bench), REG_DIR (the registry's folder with `log` and `data/`: /tmp/reg<port>),
#      WRITE_README (1: replace the results section of bench/README.md).
# Needs: dotnet, skopeo, umoci, runc, jq, GNU time (installed with apt-get if missing); root (runc).
# Uses ../shared/bench/ (beside this repository on the dev machines): lib.sh and seed-registry.sh.

set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$REPO/../shared/bench"
[[ -f "$SHARED/lib.sh" ]] || { echo "run.sh: $SHARED/lib.sh not found (../shared/bench beside the repository)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$SHARED/lib.sh"      # log, median, ensure_registry; REG

N="${N:-3}"
ROUNDS="${ROUNDS:-3}"
VARIANTS="${VARIANTS:-fdd scd}"
DESTS="${DESTS:-push tar}"
TOOLS="${TOOLS:-livrable ms}"
WORK="${WORK:-/tmp/livrable-bench}"
WRITE_README="${WRITE_README:-1}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$WORK/results/$STAMP.tsv"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# ------------------------------------------------------------------ prerequisites
if [[ ! -x /usr/bin/time ]]; then
  log "installing GNU time"
  apt-get install -y -qq time >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq time; }
fi
for t in dotnet skopeo umoci runc jq; do command -v "$t" >/dev/null || { log "missing $t"; exit 1; }; done

ensure_registry         # may switch REG to a fallback registry on 127.0.0.1:5001
# The SDK's container tool needs this for plain http (Livrable treats loopback as plain http by itself).
export DOTNET_CONTAINER_INSECURE_REGISTRIES="$REG"
REG_DIR="${REG_DIR:-/tmp/reg${REG##*:}}"
REG_LOG="$REG_DIR/log"
REG_DATA="$REG_DIR/data/docker/registry/v2"
[[ -r "$REG_LOG" && -d "$REG_DATA" ]] || { log "no registry log/data under $REG_DIR: uploaded bytes will be NA"; REG_LOG=""; }

for img in dotnet-runtime:10.0 dotnet-deps:bookworm; do
  if ! skopeo inspect --raw --tls-verify=false "docker://$REG/$img" >/dev/null 2>&1; then
    log "$REG/$img missing: seeding"
    REG="$REG" "$SHARED/seed-registry.sh"
    break
  fi
done

base_image() { case "$1" in fdd) echo "$REG/dotnet-runtime:10.0" ;; scd) echo "$REG/dotnet-deps:bookworm" ;; esac; }

# ------------------------------------------------------------------ Livrable package and the two apps
mkdir -p "$WORK/results" "$WORK/out" "$WORK/logs"
log "packing Livrable.Sdk from $REPO"
rm -rf "$WORK/feed"
dotnet pack "$REPO/src/Sdk" -c Release -o "$WORK/feed" > "$WORK/logs/pack.log" 2>&1 || { tail -30 "$WORK/logs/pack.log"; exit 1; }
# Same version each time: drop the extracted copy so the fresh package is the one restored.
rm -rf "$WORK/nuget-packages/livrable.sdk"

GREETING="hello from bench"
program() { printf 'Console.WriteLine("%s");\n' "$1" > "$2/Program.cs"; }

make_app() {  # make_app TOOL: the same console app; the Livrable one has the PackageReference
  local dir="$WORK/apps/$1" ref=""
  mkdir -p "$dir"
  [[ "$1" == livrable ]] && ref='
  <ItemGroup>
    <PackageReference Include="Livrable.Sdk" Version="0.1.0" />
  </ItemGroup>'
  cat > "$dir/hello.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <AssemblyName>hello</AssemblyName>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
  </PropertyGroup>$ref
</Project>
EOF
  # The local feed plus this machine's nuget.org source; a private packages folder (so a re-packed 0.1.0 is picked
  # up) that falls back to the user's, so nothing already on the machine is downloaded again.
  local sources
  sources=$(cd / && dotnet nuget list source --format short 2>/dev/null | awk '$1 ~ /^E/ {print $2}')
  [[ -n "$sources" ]] || sources="https://api.nuget.org/v3/index.json"
  {
    echo '<?xml version="1.0" encoding="utf-8"?>'
    echo '<configuration>'
    echo "  <config><add key=\"globalPackagesFolder\" value=\"$WORK/nuget-packages\" /></config>"
    echo '  <packageSources>'
    echo '    <clear />'
    echo "    <add key=\"livrable-local\" value=\"$WORK/feed\" />"
    local i=0 s; for s in $sources; do echo "    <add key=\"source$((i++))\" value=\"$s\" />"; done
    echo '  </packageSources>'
    echo "  <fallbackPackageFolders><add key=\"user\" value=\"${NUGET_PACKAGES:-$HOME/.nuget/packages}\" /></fallbackPackageFolders>"
    echo '</configuration>'
  } > "$dir/NuGet.config"
  program "$GREETING" "$dir"
}

variant_props() {  # variant_props VARIANT -> msbuild args (same for both tools)
  case "$1" in
    fdd) echo "-p:ContainerBaseImage=$(base_image fdd)" ;;
    scd) echo "-p:ContainerBaseImage=$(base_image scd) -p:SelfContained=true -p:RuntimeIdentifier=linux-x64" ;;
  esac
}

repository() { echo "bench-$1-$2"; }          # repository TOOL VARIANT
archive() { echo "$WORK/out/$1-$2.tar"; }     # archive TOOL VARIANT

# The exact command of one run (also printed into the README).
publish_cmd() {  # publish_cmd TOOL VARIANT DEST
  local tool="$1" v="$2" dest="$3" cmd
  cmd="dotnet publish -c Release -t:PublishContainer -tl:off -nodeReuse:false -p:UseSharedCompilation=false -clp:PerformanceSummary"
  cmd+=" $(variant_props "$v") -p:ContainerRepository=$(repository "$tool" "$v") -p:ContainerImageTag=latest"
  case "$dest" in
    push) cmd+=" -p:ContainerRegistry=$REG" ;;
    tar)  cmd+=" -p:ContainerArchiveOutputPath=$(archive "$tool" "$v")" ;;
  esac
  [[ "$tool" == livrable ]] && cmd+=" -p:ContainerStateDirectory=$WORK/state/livrable"
  echo "$cmd"
}
tool_env() {  # tool_env TOOL -> env assignments: each tool's cache isolated
  case "$1" in
    livrable) echo "XDG_CACHE_HOME=$WORK/state/livrable-xdg" ;;
    ms)       echo "XDG_CACHE_HOME=$WORK/state/ms-xdg" ;;   # the SDK's layer cache: $XDG_CACHE_HOME/dotnet/Containers
  esac
}

# Blobs the registry received for REPO in log lines after LINE: completed uploads (PUT ...&digest=, or a one-shot
# POST ...?digest=), not cross-repository mounts. Sizes from the registry's storage. Prints "blobs bytes mounts".
uploads_since() {  # uploads_since LINE REPO
  [[ -n "$REG_LOG" ]] || { echo "NA NA NA"; return; }
  local blobs=0 bytes=0 mounts=0 hex f
  while read -r hex; do
    f="$REG_DATA/blobs/sha256/${hex:0:2}/$hex/data"
    blobs=$((blobs + 1)); [[ -f "$f" ]] && bytes=$((bytes + $(stat -c %s "$f")))
  done < <(tail -n "+$(($1 + 1))" "$REG_LOG" | grep -E "^[0-9.]+ - - .*\"(PUT|POST) /v2/$2/blobs/uploads/[^ ]*digest=sha256(%3A|:)[0-9a-f]{64}[^ ]* HTTP/[0-9.]+\" 201 " \
             | grep -v 'mount=' | grep -oE 'digest=sha256(%3A|:)[0-9a-f]{64}' | grep -oE '[0-9a-f]{64}$' || true)
  mounts=$(tail -n "+$(($1 + 1))" "$REG_LOG" | grep -cE "^[0-9.]+ - - .*\"POST /v2/$2/blobs/uploads/\?mount=[^ ]* HTTP/[0-9.]+\" 201 " || true)
  echo "$blobs $bytes $mounts"
}

# One timed run: appends a row to $RAW.
#   tool variant dest phase run wall_s cpu_s image_ms maxrss_kb up_blobs up_bytes mounts rc load1 tool_says
publish() {  # publish TOOL VARIANT DEST PHASE RUN
  local tool="$1" v="$2" dest="$3" phase="$4" run="$5"
  local dir="$WORK/apps/$tool" logf="$WORK/logs/$tool-$v-$dest-$phase-$run.log" tf="$WORK/logs/$tool-$v-$dest-$phase-$run.time"
  local line0=0 t0 t1 rc=0
  [[ -n "$REG_LOG" ]] && line0=$(wc -l < "$REG_LOG")
  local load1; load1=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s.%N)
  # shellcheck disable=SC2046
  ( cd "$dir" && env $(tool_env "$tool") /usr/bin/time -v -o "$tf" $(publish_cmd "$tool" "$v" "$dest") ) > "$logf" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  local wall cpu image rss up says
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
  local task; [[ "$tool" == livrable ]] && task=BuildContainerImage || task=CreateNewImage
  image=$(awk -v t="$task" '/Task Performance Summary/{s=1} s && $2=="ms" && $3==t {print $1; exit}' "$logf")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf" 2>/dev/null)
  cpu=$(awk -F': ' '/User time|System time/{s+=$2; n++} END{if(n) printf "%.2f", s}' "$tf" 2>/dev/null)
  up="NA NA NA"; [[ "$dest" == push ]] && up=$(uploads_since "$line0" "$(repository "$tool" "$v")")
  says=$(grep -oE 'uploaded [0-9]+ blobs \([^)]*\)' "$logf" | tail -1 || true)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$v" "$dest" "$phase" "$run" "$wall" \
    "${cpu:-NA}" "${image:-NA}" "${rss:-NA}" $up "$rc" "$load1" "${says:--}" >> "$RAW"
  log "$tool $v $dest $phase#$run: ${wall}s (CPU ${cpu:-NA}s), image step ${image:-NA} ms, max RSS ${rss:-NA} kB, uploaded (blobs bytes mounts) $up${says:+ [$says]} rc=$rc"
  if [[ $rc != 0 ]]; then tail -25 "$logf" >&2; return 1; fi
}

# Runs an image (any skopeo transport) with umoci + runc; prints its output.
run_image() {  # run_image SKOPEO_REF NAME
  local ref="$1" name="$2" lay="$WORK/out/layout-$2" b="$WORK/out/bundle-$2" id="livrable-bench-$2-$$"
  rm -rf "$lay" "$b"
  skopeo copy -q --src-tls-verify=false "$ref" "oci:$lay:img" >&2
  umoci unpack --image "$lay:img" "$b" >/dev/null
  jq '.process.terminal=false' "$b/config.json" > "$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
  ( cd "$b" && timeout 60 runc run "$id" 2>&1 ) || true
  runc delete -f "$id" >/dev/null 2>&1 || true
  rm -rf "$lay" "$b"
}

# Checks the last image of a scenario: readable by skopeo, and it prints the expected greeting under runc.
verify() {  # verify TOOL VARIANT DEST EXPECTED
  local tool="$1" v="$2" dest="$3" want="$4" ref info out
  if [[ "$dest" == push ]]; then
    ref="docker://$REG/$(repository "$tool" "$v"):latest"
  else
    local tb; tb=$(archive "$tool" "$v")
    if tar -tf "$tb" | grep -qx 'oci-layout'; then ref="oci-archive:$tb"; else ref="docker-archive:$tb"; fi
  fi
  info=$(skopeo inspect --tls-verify=false "$ref" | jq -c '{Digest,Os,Architecture,Layers:(.Layers|length)}') \
    || { printf '%s\t%s\t%s\tverify\t%s\tFAIL(skopeo inspect)\n' "$tool" "$v" "$dest" "$ref" >> "$RAW.verify"; return 1; }
  out=$(run_image "$ref" "$tool-$v-$dest" | tr -d '\r' | tail -3 | paste -sd'|')
  local ok=FAIL; [[ "$out" == *"$want"* ]] && ok=OK
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$v" "$dest" "${ref%%:*}" "$info" "$ok" "$out" >> "$RAW.verify"
  log "verify $tool $v $dest: $ok  $info  ran: $out"
}

# ------------------------------------------------------------------ warm-up (untimed)
# Restores both apps (both variants) and builds once, so that "cold" is about the image, not about NuGet or the
# first read of the SDK from disk.
for tool in $TOOLS; do
  make_app "$tool"
  for v in $VARIANTS; do
    # shellcheck disable=SC2046
    ( cd "$WORK/apps/$tool" && dotnet build -c Release $(variant_props "$v") -nodeReuse:false ) \
      > "$WORK/logs/warmup-$tool-$v.log" 2>&1 || { tail -30 "$WORK/logs/warmup-$tool-$v.log"; exit 1; }
  done
done

printf 'tool\tvariant\tdest\tphase\trun\twall_s\tcpu_s\timage_ms\tmaxrss_kb\tup_blobs\tup_bytes\tmounts\trc\tload1\ttool_says\n' > "$RAW"
: > "$RAW.verify"
log "raw rows: $RAW"
FAILED=()

# The tools take turns inside each phase (cold, each unchanged run, edit), so that both see the same machine; the
# whole cycle is done ROUNDS times, and the image of the last round is checked.
for v in $VARIANTS; do
  for dest in $DESTS; do
    for ((round = 1; round <= ROUNDS; round++)); do
      ok_tools=()
      for tool in $TOOLS; do
        dir="$WORK/apps/$tool"
        # cold: no bin/obj, empty caches, the repository gone from the registry (so nothing of the app is there)
        rm -rf "$dir/bin" "$dir/obj" "$WORK/state/$tool" "$WORK/state/$tool-xdg" "$(archive "$tool" "$v")"
        if [[ "$dest" == push && -n "$REG_LOG" ]]; then rm -rf "${REG_DATA:?}/repositories/$(repository "$tool" "$v")"; fi
        program "$GREETING" "$dir"
      done
      for tool in $TOOLS; do
        if publish "$tool" "$v" "$dest" cold "$round"; then ok_tools+=("$tool"); else FAILED+=("$tool $v $dest cold#$round"); fi
      done
      for ((i = 1; i <= N; i++)); do
        for tool in "${ok_tools[@]}"; do
          publish "$tool" "$v" "$dest" unchanged "$round.$i" || FAILED+=("$tool $v $dest unchanged#$round.$i")
        done
      done
      for tool in "${ok_tools[@]}"; do
        program "$GREETING, edited" "$WORK/apps/$tool"
        if ! publish "$tool" "$v" "$dest" edit "$round"; then
          FAILED+=("$tool $v $dest edit#$round")
        elif ((round == ROUNDS)); then
          verify "$tool" "$v" "$dest" "$GREETING, edited" || FAILED+=("$tool $v $dest verify")
        fi
        program "$GREETING" "$WORK/apps/$tool"
      done
    done
  done
done

# ------------------------------------------------------------------ summary
# value TOOL VARIANT DEST PHASE COLUMN -> the median of the successful runs of that phase
value() {
  local col="$5" vals
  vals=$(awk -F'\t' -v t="$1" -v v="$2" -v d="$3" -v p="$4" -v c="$col" \
    'NR==1{for(i=1;i<=NF;i++) {if($i==c) k=i; if($i=="rc") r=i}; next} $1==t && $2==v && $3==d && $4==p && $r==0 && $k!="NA" {print $k}' "$RAW")
  # shellcheck disable=SC2086
  if [[ -z "$vals" ]]; then echo NA; else median $vals; fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="NA" || b=="NA" || b+0==0) print "–"; else printf "%.2f×", a/b }'; }
sec() { awk -v a="$1" 'BEGIN{ if (a=="NA") print "NA"; else printf "%.2f", a }'; }
msec() { awk -v a="$1" 'BEGIN{ if (a=="NA") print "NA"; else printf "%.2f", a/1000 }'; }
mb() { awk -v a="$1" 'BEGIN{ if (a=="NA") print "NA"; else printf "%.0f", a/1024 }'; }
bytes() { awk -v a="$1" 'BEGIN{ if (a=="NA") print "NA"; else if (a==0) print "0 B"; else if (a<1e6) printf "%.1f kB", a/1e3; else printf "%.1f MB", a/1e6 }'; }

SUMMARY="$WORK/results/$STAMP.md"
{
  echo "Run $STAMP (UTC) on $(nproc) cores ($(lscpu | awk -F': +' '/Model name/{print $2; exit}')), $(free -g | awk '/Mem:/{print $2}') GB RAM,"
  echo "$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), .NET SDK $(dotnet --version), Livrable $(git -C "$REPO" rev-parse --short HEAD)."
  echo "Load average at the start of the runs: $(awk -F'\t' -v cores="$(nproc)" \
    'NR==1{for(i=1;i<=NF;i++) if($i=="load1") k=i; next} {s+=$k; n++; if($k>m) m=$k}
     END{printf "mean %.1f, max %.1f, on %d cores (the bench alone gives about 1.5)", s/n, m, cores}' "$RAW")."
  echo
  echo "Wall times in seconds, medians: cold and edit of $ROUNDS runs, unchanged of $((ROUNDS * N)) ($ROUNDS rounds of $N)."
  echo "Ratio = SDK / Livrable (above 1: Livrable is faster or lighter). *publish* is the whole \`dotnet publish\`,"
  echo "*image* the image task alone (Livrable: BuildContainerImage; SDK: CreateNewImage)."
  echo
  echo "| variant | dest | phase | publish: Livrable | publish: SDK | ratio | image: Livrable | image: SDK | ratio |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
  for v in $VARIANTS; do for dest in $DESTS; do for phase in cold unchanged edit; do
    lw=$(value livrable "$v" "$dest" "$phase" wall_s); mw=$(value ms "$v" "$dest" "$phase" wall_s)
    li=$(value livrable "$v" "$dest" "$phase" image_ms); mi=$(value ms "$v" "$dest" "$phase" image_ms)
    echo "| $v | $dest | $phase | $(sec "$lw") | $(sec "$mw") | $(ratio "$mw" "$lw") | $(msec "$li") | $(msec "$mi") | $(ratio "$mi" "$li") |"
  done; done; done
  echo
  echo "CPU = user + system seconds of the whole publish (all processes waited for; less sensitive to other load than"
  echo "wall time); peak RSS in MB (the largest single process, see above); uploaded = blob bytes the registry received"
  echo "(number of blobs)."
  echo
  echo "| variant | dest | phase | CPU: Livrable | CPU: SDK | ratio | peak RSS: Livrable | peak RSS: SDK | uploaded: Livrable | uploaded: SDK |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
  for v in $VARIANTS; do for dest in $DESTS; do for phase in cold unchanged edit; do
    lc=$(value livrable "$v" "$dest" "$phase" cpu_s); mc=$(value ms "$v" "$dest" "$phase" cpu_s)
    lr=$(value livrable "$v" "$dest" "$phase" maxrss_kb); mr=$(value ms "$v" "$dest" "$phase" maxrss_kb)
    lu="–"; mu="–"
    if [[ "$dest" == push ]]; then
      lu="$(bytes "$(value livrable "$v" "$dest" "$phase" up_bytes)") ($(value livrable "$v" "$dest" "$phase" up_blobs))"
      mu="$(bytes "$(value ms "$v" "$dest" "$phase" up_bytes)") ($(value ms "$v" "$dest" "$phase" up_blobs))"
    fi
    echo "| $v | $dest | $phase | $(sec "$lc") | $(sec "$mc") | $(ratio "$mc" "$lc") | $(mb "$lr") | $(mb "$mr") | $lu | $mu |"
  done; done; done
  echo
  echo "Commands (each in \`$WORK/apps/<tool>\`, the same app with or without the \`Livrable.Sdk\` PackageReference;"
  echo "environment: \`DOTNET_CONTAINER_INSECURE_REGISTRIES=$REG\`, \`XDG_CACHE_HOME\` per tool):"
  echo
  echo '```sh'
  for v in $VARIANTS; do for dest in $DESTS; do for tool in $TOOLS; do
    echo "$(tool_env "$tool") /usr/bin/time -v $(publish_cmd "$tool" "$v" "$dest")"
  done; done; done
  echo '```'
  echo
  echo "Checks of the last (edited) image of each scenario: skopeo inspect, then run with umoci + runc:"
  echo
  echo "| tool | variant | dest | transport | image | greeting |"
  echo "|---|---|---|---|---|---|"
  awk -F'\t' '{printf "| %s | %s | %s | %s | `%s` | %s: %s |\n", $1, $2, $3, $4, $5, $6, $7}' "$RAW.verify"
  if ((${#FAILED[@]})); then echo; echo "Failed: ${FAILED[*]} (logs under $WORK/logs)."; fi
} > "$SUMMARY"
cat "$SUMMARY"

if [[ "$WRITE_README" == 1 && -f "$REPO/bench/README.md" ]]; then
  awk -v f="$SUMMARY" '
    /<!-- results:begin -->/ {print; while ((getline l < f) > 0) print l; skip=1; next}
    /<!-- results:end -->/ {skip=0}
    !skip {print}' "$REPO/bench/README.md" > "$REPO/bench/README.md.new" && mv "$REPO/bench/README.md.new" "$REPO/bench/README.md"
  log "results written to bench/README.md"
fi
log "raw: $RAW  summary: $SUMMARY"
((${#FAILED[@]} == 0))
