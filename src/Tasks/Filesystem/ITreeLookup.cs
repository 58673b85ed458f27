using Livrable.Layers;

namespace Livrable.Filesystem;

/// <summary>
/// What a step asks of a stage's file system while it plans a layer (COPY, ADD, WORKDIR, a RUN's USER): the entry at a
/// path, with or without its last symbolic link followed, and the real path a path names. A loaded
/// <see cref="FileTree"/> answers it, and so does a <see cref="TreeSnapshot"/>, which answers from a file without
/// loading the tree: a COPY of a few files over a 25,000-entry stage looks up a few dozen paths (issue 14).
/// </summary>
public interface ITreeLookup
{
    /// <inheritdoc cref="FileTree.Get"/>
    FileEntry? Get(string path);

    /// <inheritdoc cref="FileTree.Resolve"/>
    FileEntry? Resolve(string path);

    /// <inheritdoc cref="FileTree.RealPath"/>
    string RealPath(string path);
}
