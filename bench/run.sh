#!/usr/bin/env bash
# Livrable side by side with its peers on this machine (issue 5, item 6). Three workloads:
#   a  the hello console app in properties mode (no Dockerfile): Livrable (PackageReference) against the .NET SDK's
#      own `dotnet publish -t:PublishContainer`, framework-dependent (fdd) and self-contained (scd), to a tarball;
#   b  a 300 MB, 20,000-file build context (../shared/bench/make-workload.sh) with `FROM debian-python; COPY . /data`:
#      a Livrable image project (Sdk="Livrable.Sdk") against `buildah bud` and docker's (legacy) builder, and the
#      physical limit, the same bytes through `tar -c | pigz` and `tar -c | sha256sum`;
#   c  samples/pyapp (RUN apt-get, COPY, RUN pip) on samples/debian: Livrable against buildah and docker on the same
#      Dockerfile and the same base image (the debian project's tarball, loaded into their storage);
# and, when WORKLOADS names it, p (bench/parallel.sh: two independent stages, one and two platforms, with
# ContainerMaxParallelism=1 against the default, and buildah --jobs 1 against 2; its own table);
# each in three phases: cold (empty caches and state), unchanged (the same command again, N times), edit (after a
# one-file change), the tools taking turns inside each phase, the whole cycle ROUNDS times; the table gives medians.
# Per run: wall time, Livrable's own time (its targets, from -clp:PerformanceSummary; the SDK's container targets for
# the SDK), and the peak memory of the whole process tree (see bench/README.md, "Peak memory").
#
# Env: WORKLOADS ("a b c"), PEERS ("sdk buildah docker physical"), ROUNDS (3), N (2: unchanged runs per round),
#      SMALL (1: a 30 MB / 2,000-file context for b, a dry run), A_VARIANTS ("fdd scd"), A_DESTS ("tar push": a's
#      destinations, an image tarball and $REG, where the bytes uploaded are counted), WORK (/tmp/livrable-bench),
#      SAMPLE (0.2: seconds between memory samples), BUILDAH_DRIVER (overlay), OUT_MD (bench/results/latest.md),
#      REG (the registry of the base images: 127.0.0.1:5000, else lib.sh starts one on 127.0.0.1:5001).
# Needs: root, dotnet, skopeo, jq, GNU time, pigz, and for the peers buildah and docker.io (a missing peer is a note
# in the table, not a failure). Uses ../shared/bench/ beside this repository: lib.sh, seed-registry.sh, make-workload.sh.

set -euo pipefail
REPO="${_BENCH_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
# bash reads a script while it runs it: a pull, merge or edit of this file during a 45-minute run would change the
# lines still to come. So the run is made by a copy, taken at the start.
if [[ -z "${_BENCH_REPO:-}" ]]; then
  mkdir -p "${WORK:-/tmp/livrable-bench}"
  cp "${BASH_SOURCE[0]}" "${WORK:-/tmp/livrable-bench}/run.sh.running"
  _BENCH_REPO="$REPO" exec bash "${WORK:-/tmp/livrable-bench}/run.sh.running" "$@"
fi
SHARED="${SHARED:-$REPO/../shared/bench}"
[[ -f "$SHARED/lib.sh" ]] || { echo "run.sh: $SHARED/lib.sh not found (../shared/bench beside the repository)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$SHARED/lib.sh"      # log, median, ensure_registry; REG
# shellcheck source=feed.sh
. "$REPO/bench/feed.sh"  # pack_livrable, app_folder

WORKLOADS="${WORKLOADS:-a b c}"
PEERS="${PEERS:-sdk buildah docker physical}"
ROUNDS="${ROUNDS:-3}"
N="${N:-2}"
SMALL="${SMALL:-0}"
A_VARIANTS="${A_VARIANTS:-fdd scd}"
A_DESTS="${A_DESTS:-tar push}"
A_CASES=""; for v in $A_VARIANTS; do for d in $A_DESTS; do A_CASES+=" $v-$d"; done; done
WORK="${WORK:-/tmp/livrable-bench}"
SAMPLE="${SAMPLE:-0.2}"
BUILDAH_DRIVER="${BUILDAH_DRIVER:-overlay}"
OUT_MD="${OUT_MD:-$REPO/bench/results/latest.md}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$WORK/results/$STAMP.tsv"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Every dotnet run keeps its whole process tree to itself and ends with it: no MSBuild node or compiler server
# survives a run, serves the next one or escapes the memory measurement.
DOTNET_FLAGS="-tl:off -nodeReuse:false -p:UseSharedCompilation=false -clp:PerformanceSummary"

has_peer() { [[ " $PEERS " == *" $1 "* ]]; }
has_workload() { [[ " $WORKLOADS " == *" $1 "* ]]; }
declare -A NOTE=()      # NOTE[workload:tool] = why that peer has no figures

# ------------------------------------------------------------------ prerequisites
if [[ ! -x /usr/bin/time ]]; then
  log "installing GNU time"
  apt-get install -y -qq time >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq time; }
fi
for t in dotnet skopeo jq tar sha256sum ps; do command -v "$t" >/dev/null || { log "missing $t"; exit 1; }; done
# ../shared/bench/seed-registry.sh builds the base images with debootstrap when they are missing from $REG.
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap (seed-registry.sh)"
  apt-get install -y -qq debootstrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq debootstrap; }
fi
if has_peer physical && ! command -v pigz >/dev/null; then apt-get install -y -qq pigz >/dev/null 2>&1 || true; fi
if has_peer buildah && ! command -v buildah >/dev/null; then
  NOTE[b:buildah]="buildah is not installed"; NOTE[c:buildah]="buildah is not installed"
fi
if has_peer docker && ! command -v dockerd >/dev/null; then
  NOTE[b:docker]="docker.io is not installed"; NOTE[c:docker]="docker.io is not installed"
fi

ensure_registry         # may switch REG to a fallback registry on 127.0.0.1:5001
export DOTNET_CONTAINER_INSECURE_REGISTRIES="$REG"   # the SDK's container tool needs it for plain http
need_images=(); has_workload a && need_images+=(dotnet-runtime:10.0 dotnet-deps:bookworm)
has_workload b && need_images+=(debian-python:bookworm)
for img in "${need_images[@]}"; do
  if ! skopeo inspect --raw --tls-verify=false "docker://$REG/$img" >/dev/null 2>&1; then
    log "$REG/$img missing: seeding"; REG="$REG" "$SHARED/seed-registry.sh" >&2; break
  fi
done

mkdir -p "$WORK/results" "$WORK/out" "$WORK/logs" "$WORK/state" "$WORK/apps" "$(dirname "$OUT_MD")"
# The registry's access log and storage, to count what a's pushes upload (lib.sh's registries keep them there).
REG_DIR="${REG_DIR:-/tmp/reg${REG##*:}}"
REG_LOG="$REG_DIR/log"; REG_DATA="$REG_DIR/data/docker/registry/v2"
[[ -r "$REG_LOG" && -d "$REG_DATA" ]] || { log "no registry log/data under $REG_DIR: uploaded bytes will be NA"; REG_LOG=""; }
# Blobs the registry received for REPO in log lines after LINE: completed uploads (PUT ...&digest=, or a one-shot
# POST ...?digest=), not cross-repository mounts; sizes from its storage. Prints "blobs bytes".
uploads_since() {  # uploads_since LINE REPO
  [[ -n "$REG_LOG" ]] || { echo "NA NA"; return; }
  local blobs=0 bytes=0 hex f
  while read -r hex; do
    f="$REG_DATA/blobs/sha256/${hex:0:2}/$hex/data"
    blobs=$((blobs + 1)); [[ -f "$f" ]] && bytes=$((bytes + $(stat -c %s "$f")))
  done < <(tail -n "+$(($1 + 1))" "$REG_LOG" | grep -E "\"(PUT|POST) /v2/$2/blobs/uploads/[^ ]*digest=sha256(%3A|:)[0-9a-f]{64}[^ ]* HTTP/[0-9.]+\" 201 " \
             | grep -v 'mount=' | grep -oE 'digest=sha256(%3A|:)[0-9a-f]{64}' | grep -oE '[0-9a-f]{64}$' || true)
  echo "$blobs $bytes"
}

# ------------------------------------------------------------------ measuring one run
# Resident memory (kB) of the processes ROOTS and all their descendants, summed: the tree of one build. Shared pages
# (the .NET runtime mapped in two MSBuild processes) count in each process, so this errs high, never low.
tree_rss() {  # tree_rss "PID..."
  ps -e -o pid=,ppid=,rss= | awk -v roots="$1" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) t[r[i]] = 1 }
    { p[NR] = $1; pp[NR] = $2; rss[NR] = $3 }
    END { do { c = 0; for (i = 1; i <= NR; i++) if (!(p[i] in t) && (pp[i] in t)) { t[p[i]] = 1; c = 1 } } while (c)
          for (i = 1; i <= NR; i++) if (p[i] in t) s += rss[i]; print s + 0 }'
}
alive() { [[ -r "/proc/$1/stat" ]] && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }

# Runs the shell command CMD under GNU time, sampling the tree's memory every $SAMPLE s; EXTRA names more root
# processes whose trees do the work (docker's: dockerd). Sets M_WALL (s), M_CPU (user+sys s of the waited-for tree),
# M_RSS1 (kB: GNU time's %M, the largest single process) M_TREE (kB: the largest sampled tree sum), M_RC.
# The wall time is taken when the command ends (`wait`), not when the sampler next looks: a sampler loop that
# polls every $SAMPLE s rounds each run up to its next poll, up to 0.2 s more (0.64-0.88 s for runs GNU time
# measured at 0.58-0.74 s), a large share of a sub-second run's figure and none of a cold one's.
measure() {  # measure LOGFILE EXTRA CMD
  local logf="$1" extra="$2" cmd="$3" tf="$1.time" t0 t1 pid sampler
  t0=$(date +%s.%N)
  /usr/bin/time -f '%e %U %S %M' -o "$tf" bash -c "$cmd" > "$logf" 2>&1 &
  pid=$!
  (
    peak=0
    while alive "$pid"; do
      cur=$(tree_rss "$pid $extra"); ((cur > peak)) && { peak=$cur; echo "$peak" > "$logf.peak"; }
      sleep "$SAMPLE"
    done
  ) &
  sampler=$!
  M_RC=0; wait "$pid" || M_RC=$?
  t1=$(date +%s.%N)
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  M_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
  M_CPU=$(awk 'NF==4 {printf "%.2f", $2+$3}' "$tf" 2>/dev/null || true)
  M_RSS1=$(awk 'NF==4 {print $4}' "$tf" 2>/dev/null || true)
  M_TREE=$(cat "$logf.peak" 2>/dev/null || echo 0); rm -f "$logf.peak"
}

# Sum of the Target Performance Summary lines of the targets named in FILES (the tool's own time), in ms.
LIVRABLE_TARGETS=""; LIVRABLE_TASKS=""; SDK_TASKS=""
# Targets are timed inclusively of the CallTarget and MSBuild tasks inside them (the SDK's PublishContainer holds its
# whole image step twice that way), so the figure of the table is the tool's own tasks; Livrable's targets (exclusive
# of those two tasks' time only where they call none) are kept in the raw rows.
targets_in() { grep -ohE '<Target Name="[^"]+"' "$@" 2>/dev/null | sed -E 's/.*"([^"]+)"/\1/' | sort -u | paste -sd' ' || true; }
tasks_in() { grep -ohE '<UsingTask [^>]*TaskName="[^"]+"' "$@" 2>/dev/null | sed -E 's/.*TaskName="([^"]+)"/\1/; s/.*\.//' | sort -u | paste -sd' ' || true; }
own_ms() {  # own_ms LOG "NAME..." Target|Task -> the sum of those lines of that performance summary, in ms
  awk -v names="$2" -v kind="$3" 'BEGIN { n = split(names, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
    /Performance Summary:/ { s = ($1 == kind); next }
    s && $2 == "ms" && ($3 in want) { t += $1; found = 1 } END { if (found) print t; else print "NA" }' "$1"
}

printf 'workload\tvariant\tphase\tround\ttool\twall_s\town_ms\tcpu_s\trss1_kb\ttree_kb\trc\tload1\tlog\ttargets_ms\tup_blobs\tup_bytes\n' > "$RAW"
FAILED=()
# One timed run of TOOL; appends a raw row. run_tool WORKLOAD VARIANT PHASE RUN TOOL CMD [EXTRA_ROOTS]
run_tool() {
  local w="$1" v="$2" phase="$3" run="$4" tool="$5" cmd="$6" extra="${7:-}" own=NA targets=NA load1 line0=0 up="NA NA"
  local logf="$WORK/logs/$w-$v-$tool-$phase-$run.log"
  load1=$(cut -d' ' -f1 /proc/loadavg)
  [[ -n "$REG_LOG" ]] && line0=$(wc -l < "$REG_LOG")
  measure "$logf" "$extra" "$cmd"
  [[ "$w" == a && "$v" == *-push ]] && up=$(uploads_since "$line0" "bench-a-$tool-${v%-*}")
  case "$tool" in
    livrable) own=$(own_ms "$logf" "$LIVRABLE_TASKS" Task); targets=$(own_ms "$logf" "$LIVRABLE_TARGETS" Target) ;;
    sdk)      own=$(own_ms "$logf" "$SDK_TASKS" Task) ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$v" "$phase" "$run" "$tool" "$M_WALL" "$own" \
    "${M_CPU:-NA}" "${M_RSS1:-NA}" "$M_TREE" "$M_RC" "$load1" "$logf" "$targets" $up >> "$RAW"
  log "$w $v $tool $phase#$run: ${M_WALL}s (own ${own} ms, CPU ${M_CPU:-NA}s), peak tree $((M_TREE / 1024)) MB, largest process $(( ${M_RSS1:-0} / 1024 )) MB, rc=$M_RC"
  if [[ "$M_RC" != 0 ]]; then tail -15 "$logf" >&2; FAILED+=("$w $v $tool $phase#$run ($logf)"); return 1; fi
}

# ------------------------------------------------------------------ Livrable: the package of this repository
pack_livrable "$REPO" "$WORK/feed" "$WORK/logs/pack.log" || exit 1
LIVRABLE_TARGETS=$(targets_in "$REPO"/src/Sdk/Sdk/*.targets "$REPO"/src/Sdk/build/*.targets)
LIVRABLE_TASKS=$(tasks_in "$REPO"/src/Sdk/Sdk/*.props "$REPO"/src/Sdk/Sdk/*.targets "$REPO"/src/Sdk/build/*.props "$REPO"/src/Sdk/build/*.targets)
SDK_TASKS=$(tasks_in "$(dirname "$(readlink -f "$(command -v dotnet)")")"/sdk/"$(dotnet --version)"/Containers/build/*)
log "Livrable's tasks: $LIVRABLE_TASKS; the SDK's container tasks: $SDK_TASKS"

# Every app lives under $WORK/apps: one NuGet.config (the local feed, this machine's sources, a private packages
# folder so that a re-packed version is restored, falling back to the user's) and empty Directory.Build.* so that
# nothing above /tmp is imported (feed.sh).
app_folder "$WORK/apps" "$WORK/feed" "$WORK/nuget-packages"

# ------------------------------------------------------------------ docker: a private dockerd, stopped at the end
DOCKERD_PID=""
D="$WORK/docker"
stop_dockerd() {
  if [[ -n "$DOCKERD_PID" ]]; then
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    # dockerd leaves its default network namespace bind-mounted under its exec root.
    umount "$D/exec/netns/default" 2>/dev/null || true
    log "stopped dockerd $DOCKERD_PID"; DOCKERD_PID=""
  fi
}
trap stop_dockerd EXIT
start_dockerd() {  # the legacy builder: Debian's docker.io has no buildx, so BuildKit cannot be used
  export DOCKER_HOST="unix://$D/docker.sock" DOCKER_BUILDKIT=0
  [[ -n "$DOCKERD_PID" ]] && return 0
  mkdir -p "$D"
  # Loopback registries (127.0.0.0/8) are plain http for dockerd by itself.
  dockerd --data-root "$D/data" --exec-root "$D/exec" --host "$DOCKER_HOST" --pidfile "$D/docker.pid" \
    --iptables=false --ip6tables=false --bridge=none --storage-driver overlay2 \
    --exec-opt native.cgroupdriver=cgroupfs > "$D/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 150); do docker version >/dev/null 2>&1 && return 0; sleep 0.2; done
  tail -20 "$D/dockerd.log" >&2; stop_dockerd; return 1
}
docker_wipe() { docker system prune -af >/dev/null 2>&1 || true; }

# ------------------------------------------------------------------ buildah: a private store
BH=(buildah --root "$WORK/state/buildah/root" --runroot "$WORK/state/buildah/run" --storage-driver "$BUILDAH_DRIVER")
buildah_wipe() { "${BH[@]}" rm --all >/dev/null 2>&1 || true; "${BH[@]}" rmi --all --force >/dev/null 2>&1 || true; }
BH_CMD="${BH[*]}"

# ------------------------------------------------------------------ workload a: hello, properties mode
A_GREETING="hello from bench"
program() { printf 'Console.WriteLine("%s");\n' "$1" > "$2/Program.cs"; }
a_props() {  # a_props VARIANT -> the same msbuild args for both tools
  case "$1" in
    fdd) echo "-p:ContainerBaseImage=$REG/dotnet-runtime:10.0" ;;
    scd) echo "-p:ContainerBaseImage=$REG/dotnet-deps:bookworm -p:SelfContained=true -p:RuntimeIdentifier=linux-x64" ;;
  esac
}
a_make() {  # a_make TOOL: the same console app, the Livrable one with the PackageReference
  local dir="$WORK/apps/a-$1" ref=""
  mkdir -p "$dir"
  [[ "$1" == livrable ]] && ref="
  <ItemGroup>
    <PackageReference Include=\"Livrable.Sdk\" Version=\"$LIV_VERSION\" />
  </ItemGroup>"
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
  program "$A_GREETING" "$dir"
}
a_cmd() {  # a_cmd TOOL VARIANT-DEST
  local tool="$1" v="${2%-*}" dest="${2#*-}" dir="$WORK/apps/a-$1"
  local cmd="cd $dir && XDG_CACHE_HOME=$WORK/state/a-$tool-xdg exec dotnet publish -c Release -t:PublishContainer $DOTNET_FLAGS"
  cmd+=" $(a_props "$v") -p:ContainerRepository=bench-a-$tool-$v -p:ContainerImageTag=latest"
  case "$dest" in
    tar)  cmd+=" -p:ContainerArchiveOutputPath=$WORK/out/a-$tool-$v.tar" ;;
    push) cmd+=" -p:ContainerRegistry=$REG" ;;
  esac
  [[ "$tool" == livrable ]] && cmd+=" -p:ContainerStateDirectory=$WORK/state/a-livrable"
  echo "$cmd"
}
a_cold() {  # no bin/obj, the tool's image cache empty (Livrable's state folder; the SDK's $XDG_CACHE_HOME/dotnet/Containers)
  local dir="$WORK/apps/a-$1" v="${2%-*}"
  rm -rf "$dir/bin" "$dir/obj" "$WORK/state/a-$1" "$WORK/state/a-$1-xdg"
  if [[ "$2" == *-tar ]]; then rm -f "$WORK/out/a-$1-$v.tar"; fi
  # A push starts with nothing of the app in the registry (the base layers stay in their own repositories).
  if [[ "$2" == *-push && -n "$REG_LOG" ]]; then rm -rf "${REG_DATA:?}/repositories/bench-a-$1-$v"; fi
  program "$A_GREETING" "$dir"
}
a_edit() { program "$A_GREETING, edited" "$WORK/apps/a-$1"; }

# ------------------------------------------------------------------ workload b: a large context, COPY . /data
B_CTX="$WORK/ctx-b"; B_BYTES=0; B_FILES=0
b_prepare() {
  local wl
  if [[ "$SMALL" == 1 ]]; then
    wl=/tmp/workload/small
    WL_DIR=$wl WL_FILES=2000 WL_LARGE=4 WL_LARGE_MB=11 REG="$REG" "$SHARED/make-workload.sh" >&2
  else
    wl=/tmp/workload/big
    WL_DIR=$wl REG="$REG" "$SHARED/make-workload.sh" >&2
  fi
  # A private copy (same mtimes and modes): the edit phase changes one of its files, and other users of the shared
  # workload must not see that.
  rm -rf "$B_CTX"; cp -a "$wl" "$B_CTX"; rm -f "$B_CTX/.workload-stamp"
  B_BYTES=$(du -sb --apparent-size "$B_CTX" | cut -f1); B_FILES=$(find "$B_CTX" -type f | wc -l)
  B_EDIT=$(cd "$B_CTX" && find . -type f -name '*.txt' | sort | awk 'NR==1'); B_EDIT="$B_CTX/${B_EDIT#./}"
  cp -p "$B_EDIT" "$WORK/out/b-edit.orig"
  local dir="$WORK/apps/b-livrable"
  mkdir -p "$dir"
  cat > "$dir/big.csproj" <<EOF
<Project Sdk="Livrable.Sdk/$LIV_VERSION">
  <PropertyGroup>
    <ContainerRepository>big</ContainerRepository>
    <ContainerDockerfile>$B_CTX/Dockerfile</ContainerDockerfile>
    <ContainerBuildContext>$B_CTX</ContainerBuildContext>
    <ContainerArchiveOutputPath>$WORK/out/b-livrable.tar</ContainerArchiveOutputPath>
    <ContainerStateDirectory>$WORK/state/b-livrable</ContainerStateDirectory>
  </PropertyGroup>
</Project>
EOF
}
b_cmd() {
  case "$1" in
    livrable) echo "cd $WORK/apps/b-livrable && exec dotnet publish $DOTNET_FLAGS" ;;
    buildah)  echo "cd $B_CTX && exec $BH_CMD bud --layers --isolation chroot --tls-verify=false -t big-buildah:latest ." ;;
    docker)   echo "cd $B_CTX && exec docker build -q -t big-docker:latest ." ;;
  esac
}
b_cold() {
  case "$1" in
    livrable) rm -rf "$WORK/apps/b-livrable/bin" "$WORK/apps/b-livrable/obj" "$WORK/state/b-livrable" "$WORK/out/b-livrable.tar" ;;
    buildah)  buildah_wipe ;;
    docker)   docker_wipe ;;
  esac
}
# One file of the context changes (a line appended); b_restore puts it back, time included, after the phase.
b_edit() { :; }
b_edit_all() { echo "edited by bench/run.sh" >> "$B_EDIT"; }
b_restore() { cp -p "$WORK/out/b-edit.orig" "$B_EDIT"; }
# The physical limit: the same bytes through one tar stream, compressed on all cores, or hashed.
b_physical() {  # b_physical ROUND
  run_tool b - cold "$1" "tar|pigz" "cd $B_CTX && tar -cf - . | pigz -6 > /dev/null" || true
  run_tool b - cold "$1" "tar|sha256sum" "cd $B_CTX && tar -cf - . | sha256sum > /dev/null" || true
}

# ------------------------------------------------------------------ workload c: samples/pyapp with RUN
C_DIR="$WORK/apps/c-livrable"; C_CTX="$WORK/ctx-c"; C_BASE="$WORK/out/c-debian-bookworm.tar"
c_prepare() {
  # The samples as a user writes them: Sdk="Livrable.Sdk/<version>" from the feed, instead of the source tree's Imports.
  rm -rf "$C_DIR" "$C_CTX"; mkdir -p "$C_DIR"
  cp -a "$REPO/samples/pyapp" "$REPO/samples/debian" "$C_DIR/"
  local p
  for p in "$C_DIR/pyapp/pyapp.csproj" "$C_DIR/debian/debian.csproj"; do
    sed -i -E "s|^<Project>|<Project Sdk=\"Livrable.Sdk/$LIV_VERSION\">|; /<Import Project=\"[./]*src\/Sdk\/Sdk\/Sdk\.(props|targets)\" \/>/d" "$p"
    grep -q "Sdk=\"Livrable.Sdk/$LIV_VERSION\"" "$p" || { log "could not rewrite $p"; return 1; }
  done
  # The peers' context: the same files without the project (what .dockerignore leaves to COPY . . anyway).
  mkdir -p "$C_CTX"; (cd "$REPO/samples/pyapp" && cp -a Dockerfile .dockerignore main.py config.yaml requirements.txt "$C_CTX/")
  # The base image, made once and untimed (mmdebstrap, about 20 s): the debian project's tarball. Its root file
  # system stays in debian/obj for Livrable's cold runs; the peers load the tarball in theirs.
  log "c: building the debian:bookworm base (untimed)"
  (cd "$C_DIR/debian" && dotnet publish $DOTNET_FLAGS -p:ContainerStateDirectory="$WORK/state/c-base" -p:ContainerArchiveOutputPath="$C_BASE") \
    > "$WORK/logs/c-base.log" 2>&1 || { tail -30 "$WORK/logs/c-base.log" >&2; return 1; }
  rm -rf "$WORK/state/c-base"
}
c_cmd() {
  local load
  case "$1" in
    # No ContainerArchiveOutputPath here: a global property, it would reach the debian project as well.
    livrable) echo "cd $C_DIR/pyapp && exec dotnet publish $DOTNET_FLAGS -p:ContainerStateDirectory=$WORK/state/c-livrable" ;;
    buildah)
      # buildah 1.28 has no named contexts: the base is loaded into its store (cold only) and named debian:bookworm.
      load="id=\$($BH_CMD pull -q oci-archive:$C_BASE) && $BH_CMD tag \$id debian:bookworm && "
      [[ "$2" == cold ]] || load=""
      echo "cd $C_CTX && ${load}exec $BH_CMD bud --layers --isolation chroot --pull-never -t pyapp-buildah:latest ." ;;
    docker)
      load="ref=\$(docker load -q -i $C_BASE | awk '{print \$NF}') && docker tag \$ref debian:bookworm && "
      [[ "$2" == cold ]] || load=""
      echo "cd $C_CTX && ${load}exec docker build -q --network host -t pyapp-docker:latest ." ;;
  esac
}
c_cold() {
  case "$1" in
    livrable)
      rm -rf "$C_DIR/pyapp/bin" "$C_DIR/pyapp/obj" "$C_DIR/debian/bin" "$WORK/state/c-livrable"
      find "$C_DIR/debian/obj" -mindepth 1 -maxdepth 1 ! -name rootfs -exec rm -rf {} + 2>/dev/null || true ;;
    buildah) buildah_wipe ;;
    docker)  docker_wipe ;;
  esac
  cp -p "$REPO/samples/pyapp/main.py" "$C_DIR/pyapp/main.py"; cp -p "$REPO/samples/pyapp/main.py" "$C_CTX/main.py"
}
c_edit_all() { echo "# edited by bench/run.sh" | tee -a "$C_DIR/pyapp/main.py" >> "$C_CTX/main.py"; }
c_restore() { cp -p "$REPO/samples/pyapp/main.py" "$C_DIR/pyapp/main.py"; cp -p "$REPO/samples/pyapp/main.py" "$C_CTX/main.py"; }

# ------------------------------------------------------------------ the tools of each workload
tools_of() {  # tools_of WORKLOAD -> Livrable first, then the selected peers that can run
  local t out="livrable"
  case "$1" in
    a) has_peer sdk && out+=" sdk" ;;
    b|c) for t in buildah docker; do has_peer "$t" && [[ -z "${NOTE[$1:$t]:-}" ]] && out+=" $t"; done ;;
  esac
  echo "$out"
}
extra_roots() { [[ "$1" == docker ]] && echo "$DOCKERD_PID" || true; }

# Checks of the last image of each case, as soon as its last round ends (a later workload's cold run empties the
# peers' stores): Livrable's and the SDK's output read by skopeo; buildah's and docker's images inspected in their store.
VERIFY=()
verify_tar() {  # verify_tar LABEL TARBALL
  local ref info
  if [[ ! -f "$2" ]]; then VERIFY+=("| $1 | \`$2\` | missing |"); return; fi
  if tar -tf "$2" | grep -qx 'oci-layout'; then ref="oci-archive:$2"; else ref="docker-archive:$2"; fi
  info=$(skopeo inspect "$ref" 2>&1 | jq -c '{Digest,Layers:(.Layers|length)}' 2>/dev/null) || info="FAIL: skopeo inspect"
  VERIFY+=("| $1 | \`${ref%%:*}\` | \`${info:-FAIL}\` |")
}
verify_reg() {  # verify_reg LABEL REPOSITORY
  local info
  info=$(skopeo inspect --tls-verify=false "docker://$REG/$2:latest" 2>&1 | jq -c '{Digest,Layers:(.Layers|length)}' 2>/dev/null) || info="FAIL: skopeo inspect"
  VERIFY+=("| $1 | \`docker://$REG/$2\` | \`${info:-FAIL}\` |")
}
verify_case() {  # verify_case WORKLOAD VARIANT
  local w="$1" v="$2" tool info name
  for tool in $(tools_of "$w"); do
    info=""
    case "$w:$tool" in
      a:*)
        if [[ "$v" == *-push ]]; then verify_reg "a $v $tool" "bench-a-$tool-${v%-*}"; else verify_tar "a $v $tool" "$WORK/out/a-$tool-${v%-*}.tar"; fi
        continue ;;
      b:livrable) verify_tar "b livrable" "$WORK/out/b-livrable.tar"; continue ;;
      c:livrable) verify_tar "c livrable" "$(ls "$C_DIR"/pyapp/bin/*/*/container/*.tar 2>/dev/null | awk 'NR==1')"; continue ;;
    esac
    name=big; [[ "$w" == c ]] && name=pyapp
    case "$tool" in
      buildah) info=$("${BH[@]}" inspect --type image "$name-buildah:latest" 2>/dev/null | jq -c '{Id:.FromImageID,Layers:(.OCIv1.rootfs.diff_ids|length)}' 2>/dev/null) || info="" ;;
      docker)  info=$(docker image inspect "$name-docker:latest" 2>/dev/null | jq -c '.[0]|{Id,Layers:(.RootFS.Layers|length)}' 2>/dev/null) || info="" ;;
    esac
    VERIFY+=("| $w $tool | store | \`${info:-FAIL}\` |")
  done
}

# A whole cycle of one workload (variant): cold, N × unchanged, edit, the tools taking turns in each phase.
cycle() {  # cycle WORKLOAD VARIANT ROUND
  local w="$1" v="$2" r="$3" tool i ok=()
  for tool in $(tools_of "$w"); do "${w}_cold" "$tool" "$v"; done
  [[ "$w" == b ]] && has_peer physical && b_physical "$r"
  for tool in $(tools_of "$w"); do
    if run_tool "$w" "$v" cold "$r" "$tool" "$(cmd_of "$w" "$tool" "$v" cold)" "$(extra_roots "$tool")"; then ok+=("$tool"); fi
  done
  for ((i = 1; i <= N; i++)); do
    for tool in "${ok[@]}"; do
      run_tool "$w" "$v" unchanged "$r.$i" "$tool" "$(cmd_of "$w" "$tool" "$v" unchanged)" "$(extra_roots "$tool")" || true
    done
  done
  case "$w" in a) for tool in "${ok[@]}"; do a_edit "$tool"; done ;; b) b_edit_all ;; c) c_edit_all ;; esac
  for tool in "${ok[@]}"; do
    run_tool "$w" "$v" edit "$r" "$tool" "$(cmd_of "$w" "$tool" "$v" edit)" "$(extra_roots "$tool")" || true
  done
  case "$w" in b) b_restore ;; c) c_restore ;; esac
  if ((r == ROUNDS)); then verify_case "$w" "$v"; fi
}
cmd_of() {  # cmd_of WORKLOAD TOOL VARIANT PHASE
  case "$1" in a) a_cmd "$2" "$3" ;; b) b_cmd "$2" ;; c) c_cmd "$2" "$4" ;; esac
}

# ------------------------------------------------------------------ preparation (untimed) and the runs
if has_workload b || has_workload c; then
  if has_peer docker && [[ -z "${NOTE[b:docker]:-}" ]]; then
    start_dockerd || { NOTE[b:docker]="the private dockerd did not start (see $D/dockerd.log)"; NOTE[c:docker]="${NOTE[b:docker]}"; }
  fi
fi
if has_workload a; then
  # Restores and builds both apps once, so that "cold" is about the image, not NuGet or the first read of the SDK.
  for tool in $(tools_of a); do
    a_make "$tool"
    for v in $A_VARIANTS; do
      # shellcheck disable=SC2046
      (cd "$WORK/apps/a-$tool" && dotnet build -c Release $(a_props "$v") -nodeReuse:false) > "$WORK/logs/warmup-a-$tool-$v.log" 2>&1 \
        || { tail -30 "$WORK/logs/warmup-a-$tool-$v.log"; exit 1; }
    done
  done
fi
has_workload b && b_prepare
# The base images' blobs read once through the registry before round 1, so that whichever tool goes first in the first
# cold round does not also pay the registry's first reads of its files (evicted from the page cache, a cold fdd tar
# build took about 0.1 s more here). Livrable's first fdd tar cold of the 15:10Z run of 2026-12-06 took 0.79 s against
# 0.35 s in later rounds; this removes one difference between the first round and the others.
warm_base() {  # warm_base IMAGE
  rm -rf "$WORK/tmp-warm"
  skopeo copy -q --src-tls-verify=false "docker://$REG/$1" "dir:$WORK/tmp-warm" > /dev/null 2>&1 || log "could not read $REG/$1 ahead of the runs"
  rm -rf "$WORK/tmp-warm"
}
if has_workload a; then for v in $A_VARIANTS; do case "$v" in fdd) warm_base dotnet-runtime:10.0 ;; scd) warm_base dotnet-deps:bookworm ;; esac; done; fi
has_workload b && warm_base debian-python:bookworm
if has_workload c; then
  c_prepare
  # Whether a RUN of the peers reaches Debian's mirror is only known by trying; the cold run's log says it.
fi

log "raw rows: $RAW"
for ((round = 1; round <= ROUNDS; round++)); do
  has_workload a && for v in $A_CASES; do cycle a "$v" "$round"; done
  has_workload b && cycle b - "$round"
  has_workload c && cycle c - "$round"
done

stop_dockerd
# Workload p (not in the default list): stages and platforms built at the same time, against buildah --jobs; its own
# script and table (bench/parallel.sh, bench/results/parallel.md), with the package packed above.
if has_workload p; then FEED="$WORK/feed" LIV_VERSION="$LIV_VERSION" REG="$REG" "$REPO/bench/parallel.sh" >&2 || FAILED+=("p (bench/parallel.sh)"); fi

# ------------------------------------------------------------------ the table
value() {  # value WORKLOAD VARIANT PHASE TOOL COLUMN -> the median of the successful runs, or NA
  local vals
  vals=$(awk -F'\t' -v w="$1" -v v="$2" -v p="$3" -v t="$4" -v c="$5" \
    'NR==1{for(i=1;i<=NF;i++) {if($i==c) k=i; if($i=="rc") r=i}; next} $1==w && $2==v && $3==p && $5==t && $r==0 && $k!="NA" {print $k}' "$RAW")
  # shellcheck disable=SC2086
  if [[ -z "$vals" ]]; then echo NA; else median $vals; fi
}
tried() { awk -F'\t' -v w="$1" -v v="$2" -v p="$3" -v t="$4" '$1==w && $2==v && $3==p && $5==t {n++} END{print n+0}' "$RAW"; }
peak_kb() {  # the larger of the sampled tree and the largest single process (the sampler may miss a short peak)
  awk -F'\t' -v w="$1" -v v="$2" -v p="$3" -v t="$4" \
    '$1==w && $2==v && $3==p && $5==t && $11==0 {m = ($10+0 > $9+0) ? $10 : $9; print m}' "$RAW" | sort -g | awk '{a[NR]=$1} END{ if(NR==0) print "NA"; else if(NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="NA" || b=="NA" || b+0==0) print ""; else if (a/b < 0.1) printf " (%.3f×)", a/b; else printf " (%.2f×)", a/b }'; }
sec() { awk -v a="$1" 'BEGIN{ if (a=="NA") print "NA"; else printf "%.2f", a }'; }
mb() { awk -v a="$1" 'BEGIN{ if (a=="NA") print "NA"; else printf "%.0f", a/1024 }'; }
bytes() { awk -v a="$1" 'BEGIN{ if (a=="NA") print "NA"; else if (a==0) print "0 B"; else if (a<1e6) printf "%.1f kB", a/1e3; else printf "%.1f MB", a/1e6 }'; }
# cell WORKLOAD VARIANT PHASE TOOL KIND(time|mem) LIVRABLE_VALUE -> "value (peer/Livrable×)", or why there is none
cell() {
  local w="$1" v="$2" p="$3" t="$4" val
  if [[ -n "${NOTE[$w:$t]:-}" ]]; then echo "n/a¹"; return; fi
  [[ " $(tools_of "$w") " == *" $t "* ]] || { echo "–"; return; }
  if [[ "$5" == time ]]; then val=$(value "$w" "$v" "$p" "$t" wall_s); else val=$(peak_kb "$w" "$v" "$p" "$t"); fi
  if [[ "$val" == NA ]]; then
    if (($(tried "$w" "$v" "$p" "$t") > 0)); then echo "failed²"; else echo "not run"; fi
    return
  fi
  if [[ "$5" == mem ]]; then echo "$(mb "$val")$(ratio "$val" "$6")"; return; fi
  local out; out="$(sec "$val")$(ratio "$val" "$6")"
  # The SDK's own time (its container targets) against Livrable's, where both were measured.
  if [[ "$t" == sdk ]]; then
    local so lo; so=$(value "$w" "$v" "$p" sdk own_ms); lo=$(value "$w" "$v" "$p" livrable own_ms)
    [[ "$so" != NA ]] && out+="; own $(awk -v a="$so" 'BEGIN{printf "%.2f", a/1000}')$(ratio "$so" "$lo")"
  fi
  echo "$out"
}
label() {  # label WORKLOAD VARIANT
  case "$1" in
    a) echo "a: hello, ${2%-*}, ${2#*-}" ;;
    b) echo "b: $(awk -v b="$B_BYTES" 'BEGIN{printf "%.0f MB", b/1e6}'), $B_FILES files" ;;
    c) echo "c: pyapp" ;;
  esac
}

SUMMARY="$WORK/results/$STAMP.md"
{
  echo "Run $STAMP (UTC) on $(nproc) cores ($(lscpu | awk -F': +' '/Model name/{print $2; exit}')), $(free -g | awk '/Mem:/{print $2}') GB RAM,"
  echo "$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), .NET SDK $(dotnet --version), Livrable $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$( [[ -n "$(git -C "$REPO" status --porcelain -- src 2>/dev/null)" ]] && echo ' (with uncommitted changes in src/)')."
  echo "buildah $(buildah --version 2>/dev/null | awk '{print $3}' || echo –), docker $(dockerd --version 2>/dev/null | awk '{print $3}' | tr -d , || echo –) (legacy builder)."
  echo "Settings: WORKLOADS=\"$WORKLOADS\" PEERS=\"$PEERS\" ROUNDS=$ROUNDS N=$N SMALL=$SMALL; load average at the start of the runs:"
  echo "$(awk -F'\t' 'NR>1{s+=$12; n++; if($12>m) m=$12} END{printf "mean %.1f, max %.1f", s/n, m}' "$RAW") (on $(nproc) cores)."
  echo
  echo "Wall time in seconds (medians: cold and edit of $ROUNDS, unchanged of $((ROUNDS * N))); *own* = the time in the"
  echo "tool's own MSBuild tasks (Task Performance Summary: Livrable's $LIVRABLE_TASKS; the SDK's $SDK_TASKS)."
  echo "Peak memory in MB, the whole process tree (docker: with dockerd's). In brackets: peer / Livrable (above 1: Livrable"
  echo "is faster or lighter)."
  echo
  echo "| workload | phase | Livrable s | own s | SDK s | buildah s | docker s | Livrable MB | SDK MB | buildah MB | docker MB |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for w in a b c; do
    has_workload "$w" || continue
    variants="-"; [[ "$w" == a ]] && variants="$A_CASES"
    for v in $variants; do for p in cold unchanged edit; do
      lw=$(value "$w" "$v" "$p" livrable wall_s); lo=$(value "$w" "$v" "$p" livrable own_ms); lm=$(peak_kb "$w" "$v" "$p" livrable)
      lwc=$(sec "$lw"); [[ "$lw" == NA && $(tried "$w" "$v" "$p" livrable) -gt 0 ]] && lwc="failed²"
      echo "| $(label "$w" "$v") | $p | $lwc | $(awk -v a="$lo" 'BEGIN{ if (a=="NA") print "NA"; else printf "%.2f", a/1000 }') |" \
           "$(cell "$w" "$v" "$p" sdk time "$lw") | $(cell "$w" "$v" "$p" buildah time "$lw") | $(cell "$w" "$v" "$p" docker time "$lw") |" \
           "$(mb "$lm") | $(cell "$w" "$v" "$p" sdk mem "$lm") | $(cell "$w" "$v" "$p" buildah mem "$lm") | $(cell "$w" "$v" "$p" docker mem "$lm") |"
    done; done
  done
  if has_workload a && [[ " $A_DESTS " == *" push "* ]]; then
    echo
    echo "Bytes a's pushes uploaded to the registry (blob bytes of completed uploads in its access log, not mounts; medians;"
    echo "number of blobs in brackets):"
    echo
    echo "| workload | phase | Livrable | SDK |"
    echo "|---|---|---:|---:|"
    for c in $A_CASES; do
      [[ "$c" == *-push ]] || continue
      for p in cold unchanged edit; do
        row="| $(label a "$c") | $p |"
        for t in livrable sdk; do
          [[ " $(tools_of a) " == *" $t "* ]] || { row+=" – |"; continue; }
          row+=" $(bytes "$(value a "$c" "$p" "$t" up_bytes)") ($(value a "$c" "$p" "$t" up_blobs)) |"
        done
        echo "$row"
      done
    done
  fi
  if has_workload b && has_peer physical; then
    lw=$(value b - cold livrable wall_s); lo=$(value b - cold livrable own_ms)
    echo
    echo "Physical limit for b: the same $(awk -v b="$B_BYTES" 'BEGIN{printf "%.1f MB", b/1e6}') in one tar stream (page cache warm),"
    echo "against Livrable's cold run (its own time: the image step, with the base image pulled)."
    echo
    echo "| the same bytes through | s | MB/s | peak MB | Livrable cold (wall): % of this throughput | Livrable cold (own): % |"
    echo "|---|---:|---:|---:|---:|---:|"
    for t in "tar|pigz" "tar|sha256sum"; do
      pt=$(value b - cold "$t" wall_s)
      echo "| \`${t/|/ -c \\| }\` | $(sec "$pt") | $(awk -v b="$B_BYTES" -v s="$pt" 'BEGIN{ if (s=="NA" || s+0==0) print "NA"; else printf "%.0f", b/1e6/s }') |" \
           "$(mb "$(peak_kb b - cold "$t")") | $(awk -v a="$pt" -v b="$lw" 'BEGIN{ if (a=="NA" || b=="NA") print "NA"; else printf "%.0f %%", 100*a/b }') |" \
           "$(awk -v a="$pt" -v b="$lo" 'BEGIN{ if (a=="NA" || b=="NA" || b+0==0) print "NA"; else printf "%.0f %%", 100*a/(b/1000) }') |"
    done
  fi
  echo
  notes=""
  for k in "${!NOTE[@]}"; do notes+="${k/:/ } (${NOTE[$k]}); "; done
  [[ -n "$notes" ]] && echo "¹ Not run: ${notes%; }."
  if ((${#FAILED[@]})); then
    echo "² Failed (no successful run of that phase; logs under $WORK/logs):"
    for f in "${FAILED[@]}"; do echo "- $f"; done
  fi
  echo
  echo "The last image of each tool:"
  echo
  echo "| workload, tool | where | image |"
  echo "|---|---|---|"
  printf '%s\n' "${VERIFY[@]}"
  echo
  echo "Commands (cold run; unchanged and edit are the same command, without the base load for the peers in c):"
  echo
  echo '```sh'
  for w in a b c; do
    has_workload "$w" || continue
    variants="-"; [[ "$w" == a ]] && variants="$A_CASES"
    for v in $variants; do for t in $(tools_of "$w"); do echo "$(cmd_of "$w" "$t" "$v" cold)"; done; done
  done
  has_workload b && has_peer physical && echo "cd $B_CTX && tar -cf - . | pigz -6 > /dev/null; tar -cf - . | sha256sum > /dev/null"
  echo '```'
} > "$SUMMARY"
cp "$SUMMARY" "$OUT_MD"
cat "$SUMMARY"
log "raw: $RAW  table: $OUT_MD (and $SUMMARY)"
# Workload e (only when named: WORKLOADS=e): the edit loop of a Dockerfile project against buildah bud --layers, in its
# own script and table (bench/edit-loop.sh, bench/README.md "The edit loop").
if has_workload e; then REG="$REG" WORK="$WORK/e" "$REPO/bench/edit-loop.sh" || FAILED+=("e (bench/edit-loop.sh)"); fi
((${#FAILED[@]} == 0))
