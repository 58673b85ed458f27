# shellcheck shell=bash
# Livrable as the bench scripts measure it: the package of the repository they sit in, packed into a local feed and
# restored into a private packages folder, so that the engine of the current checkout (uncommitted changes included)
# is the one timed. Sourced by run.sh, edit-loop.sh, parallel.sh and unchanged.sh (after ../shared/bench/lib.sh: log).

# pack_livrable REPO FEED LOGFILE: packs REPO/src/Sdk (Release) into FEED, emptied first; sets LIV_VERSION.
pack_livrable() {
  local repo="$1" feed="$2" logf="$3"
  log "packing Livrable.Sdk from $repo ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  rm -rf "$feed"
  dotnet pack "$repo/src/Sdk" -c Release -o "$feed" > "$logf" 2>&1 || { tail -30 "$logf"; return 1; }
  LIV_VERSION=$(basename "$(ls "$feed"/Livrable.Sdk.*.nupkg | head -1)" .nupkg); LIV_VERSION=${LIV_VERSION#Livrable.Sdk.}
}

# app_folder DIR FEED PACKAGES: DIR gets a NuGet.config (FEED first, then this machine's enabled sources; PACKAGES as
# the packages folder, emptied of livrable.sdk so that a re-packed version is restored; the user's folder as a
# fallback) and empty Directory.Build.props/targets, so that nothing above DIR is imported into its projects.
app_folder() {
  local dir="$1" feed="$2" packages="$3" sources s i=0
  mkdir -p "$dir"; rm -rf "$packages/livrable.sdk"
  sources=$(cd / && dotnet nuget list source --format short 2>/dev/null | awk '$1 ~ /^E/ {print $2}')
  [[ -n "$sources" ]] || sources="https://api.nuget.org/v3/index.json"
  {
    echo '<?xml version="1.0" encoding="utf-8"?>'
    echo '<configuration>'
    echo "  <config><add key=\"globalPackagesFolder\" value=\"$packages\" /></config>"
    echo '  <packageSources>'
    echo '    <clear />'
    echo "    <add key=\"livrable-local\" value=\"$feed\" />"
    for s in $sources; do echo "    <add key=\"source$((i++))\" value=\"$s\" />"; done
    echo '  </packageSources>'
    echo "  <fallbackPackageFolders><add key=\"user\" value=\"${NUGET_PACKAGES:-$HOME/.nuget/packages}\" /></fallbackPackageFolders>"
    echo '</configuration>'
  } > "$dir/NuGet.config"
  echo '<Project />' > "$dir/Directory.Build.props"
  echo '<Project />' > "$dir/Directory.Build.targets"
}
