#!/usr/bin/env bash
# The edit loop of a rootless build (issue 14, item 2, for developers who publish as themselves): Livrable.Cli run as an
# unprivileged user with a subordinate id range (through setpriv, as tests/Livrable.Tests/Runtime/RootlessRunTests does)
# on FROM scratch + busybox, a RUN that leaves 20,000 small files (as apt-get or pip do) and a RUN after it; each round
# edits the first RUN's script (its layer changes), so the second RUN needs the new layer as its lower folder: adopted
# from the first RUN's upper folder, or extracted (before rootless adoption). Per build: wall time, the first RUN's
# step time and `diff:` phase (its 20,000 files read back), the second RUN's `layers:` phase, the detailed log's
# `lower folder:` line, and the load average.
#
#   bench/rootless-edit-loop.sh                      # 3 rounds, as livrable-rootless
#   ROUNDS=5 RUN_AS=alice bench/rootless-edit-loop.sh
#   AS_ROOT=1 WORK=/tmp/edit-loop-root bench/rootless-edit-loop.sh   # the same builds as root: the floor of a rootless RUN
#
# Env: ROUNDS (3), AS_ROOT (0; 1 runs the builds as root, not through setpriv), RUN_AS (livrable-rootless: `useradd --no-create-home livrable-rootless` gives it a range),
#      WORK (/tmp/livrable-rootless-edit-loop), CLI (a built Livrable.Cli folder; else this repository's, built here).
# Needs: root (to create the workspace for RUN_AS and to run setpriv), dotnet, busybox, runc, unshare, newuidmap.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"; RUN_AS="${RUN_AS:-livrable-rootless}"; WORK="${WORK:-/tmp/livrable-rootless-edit-loop}"
grep -q "^$RUN_AS:" /etc/subuid || { echo "rootless-edit-loop.sh: $RUN_AS has no range in /etc/subuid" >&2; exit 1; }
rm -rf "$WORK"; mkdir -p "$WORK/ctx"
CLI="${CLI:-$WORK/cli}"
[[ -f "$CLI/Livrable.Cli.dll" ]] || dotnet build "$REPO/src/Cli" -c Release -nologo -v:q -o "$CLI" > "$WORK/build.log"
cp "$(command -v busybox)" "$WORK/ctx/busybox"
cat > "$WORK/ctx/Dockerfile" <<'DF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY gen.sh /gen.sh
RUN sh /gen.sh
RUN ls /usr/share/many | wc -l > /count.txt
DF
cat > "$WORK/ctx/gen.sh" <<'SH'
d=0; while [ $d -lt 200 ]; do mkdir -p /usr/share/many/$d; i=0; while [ $i -lt 100 ]; do echo "file $d $i" > /usr/share/many/$d/f$i.txt; i=$((i+1)); done; d=$((d+1)); done
SH
cat > "$WORK/request.json" <<JS
{"BaseImage":"scratch","RuntimeIdentifier":"linux-x64","Repository":"edit-loop","Tags":["v1"],"ArchiveOutputPath":"$WORK/out/image.tar","StateDirectory":"$WORK/state","Dockerfile":"$WORK/ctx/Dockerfile","BuildContext":"$WORK/ctx"}
JS
chown -R "$RUN_AS:" "$WORK"
build() {
  local t0 t1; t0=$(date +%s.%N)
  local as=(setpriv --reuid "$RUN_AS" --regid "$RUN_AS" --init-groups --)
  [[ "${AS_ROOT:-0}" == 1 ]] && as=()
  "${as[@]}" env HOME="$WORK" TMPDIR="$WORK" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 \
    dotnet "$CLI/Livrable.Cli.dll" "$WORK/request.json" > "$WORK/log-$1.txt" 2>&1
  t1=$(date +%s.%N)
  local layers lower diff step
  layers=$(grep -o 'layers: [0-9]* extracted or already there [0-9.]*s' "$WORK/log-$1.txt" | tail -1)
  lower=$(grep -o 'lower folder: [0-9a-f]* [a-z]* [^"]*' "$WORK/log-$1.txt" | sed 's/\\u0027/'"'"'/g' | tail -1)
  diff=$(grep -o '#5 diff: [0-9]* changed entries read back [0-9.]*s' "$WORK/log-$1.txt" | sed 's/changed entries read back //' | tail -1)
  step=$(grep -o '\[5/7\] DONE [0-9.]*s' "$WORK/log-$1.txt" | tail -1)
  printf '%s: wall %.1fs | first RUN %s, %s | second RUN %s | %s | %s\n' "$1" "$(echo "$t1 - $t0" | bc)" "$step" "$diff" "$layers" "$lower" "$(uptime | sed 's/.*load/load/')"
}
build warm
for r in $(seq 1 "$ROUNDS"); do
  echo "echo $r > /usr/share/many/round.txt" >> "$WORK/ctx/gen.sh"
  build "edit$r"
done
