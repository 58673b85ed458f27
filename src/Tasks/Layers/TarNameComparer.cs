namespace Livrable.Layers;

/// <summary>
/// Orders tar names by Unicode code point, which is the byte order of their UTF-8 encoding: the order of the bytes
/// in the archive, the same on every machine and culture. (Ordinal UTF-16 comparison differs for characters above
/// U+E000 against surrogate pairs.) A directory's name is a prefix of its children's, so parents always come first.
/// </summary>
public sealed class TarNameComparer : IComparer<string>
{
    /// <summary>The one instance.</summary>
    public static readonly TarNameComparer Instance = new();

    private TarNameComparer() { }

    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        var a = x.EnumerateRunes();
        var b = y.EnumerateRunes();
        while (true)
        {
            bool moreA = a.MoveNext(), moreB = b.MoveNext();
            if (!moreA || !moreB) return moreA ? 1 : moreB ? -1 : 0;
            int c = a.Current.Value.CompareTo(b.Current.Value);
            if (c != 0) return c;
        }
    }
}
