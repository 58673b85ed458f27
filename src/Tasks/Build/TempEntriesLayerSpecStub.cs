// TEMPORARY: stub of the df-fs contract EntriesLayerSpec (docs/dockerfile-frontend.md) so that df-build compiles
// before that branch lands. Drop this file on merge.
using Livrable.Filesystem;

namespace Livrable.Build;

public sealed record EntriesLayerSpec(IReadOnlyList<FileEntry> Entries) : LayerSpec;
