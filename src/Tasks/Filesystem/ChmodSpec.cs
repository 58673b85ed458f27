using Livrable.Diagnostics;
using Livrable.Layers;

namespace Livrable.Filesystem;

/// <summary>
/// A <c>--chmod</c> value: an octal mode (<c>755</c>, <c>0644</c>, at most <c>07777</c>) that replaces the mode, or a
/// symbolic one as chmod(1) takes it (<c>u=rwX,go=rX</c>, <c>+x</c>, <c>a-w</c>, <c>g+s</c>, <c>o=</c>, <c>g=u</c>):
/// comma-separated clauses <c>[ugoa]*([-+=]([rwxXst]*|[ugo]))+</c>.
/// </summary>
/// <remarks>
/// Symbolic modes follow GNU chmod (gnulib <c>modechange.c</c>) with a umask of 0, which is what a build has:
/// no <c>ugoa</c> means <c>a</c>; <c>X</c> is execute when the entry is a directory or when some execute bit is set
/// at that point of the clause list; <c>s</c> is setuid with <c>u</c> and setgid with <c>g</c>; <c>t</c> is the
/// sticky bit, with <c>o</c> or <c>a</c>; a directory keeps its setuid and setgid bits unless the clause names
/// <c>s</c>. BuildKit parses with a port of BSD's setmode(3) (tonistiigi/dchapes-mode), which differs only in
/// corners: it tests <c>X</c> against the mode before any clause, takes <c>u+t</c> for the sticky bit and
/// ignores <c>o+t</c>, and lets <c>=</c> clear a directory's setgid bit.
/// </remarks>
public sealed class ChmodSpec
{
    private const int SetUid = 0x800, SetGid = 0x400, Sticky = 0x200;
    private const int UserBits = 0x1C0, GroupBits = 0x38, OtherBits = 0x7;
    private const int Read = 0x124, Write = 0x92, Execute = 0x49;     // r, w, x for u, g and o
    private const int All = FileModes.All;

    private enum Kind { Ordinary, CopyExisting, ExecuteIfAny }

    private sealed record Change(char Op, Kind Kind, int Affected, int Value, int Mentioned);

    private readonly int? _octal;
    private readonly IReadOnlyList<Change> _changes;

    private ChmodSpec(string text, int? octal, IReadOnlyList<Change> changes)
    {
        Text = text;
        _octal = octal;
        _changes = changes;
    }

    /// <summary>The value as written.</summary>
    public string Text { get; }

    /// <summary>The mode of an octal spec (it replaces every mode); null for a symbolic one.</summary>
    public int? OctalMode => _octal;

    /// <summary>Parses <paramref name="value"/>; LIV1083 at <paramref name="span"/> when it is neither form.</summary>
    public static ChmodSpec Parse(string value, SourceSpan span)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length == 0) throw Invalid(value, "it is empty", span);
        if (char.IsAsciiDigit(value[0]))
        {
            int mode = 0;
            foreach (char c in value)
            {
                if (c is < '0' or > '7') throw Invalid(value, $"'{c}' is not an octal digit", span);
                mode = mode * 8 + (c - '0');
                if (mode > All) throw Invalid(value, "an octal mode is at most 07777", span);
            }
            return new ChmodSpec(value, mode, []);
        }

        var changes = new List<Change>();
        int p = 0;
        while (true)
        {
            int affected = 0;
            for (; p < value.Length && value[p] is 'u' or 'g' or 'o' or 'a'; p++)
                affected |= value[p] switch
                {
                    'u' => SetUid | UserBits,
                    'g' => SetGid | GroupBits,
                    'o' => Sticky | OtherBits,
                    _ => All,
                };
            if (p >= value.Length || value[p] is not ('+' or '-' or '='))
                throw Invalid(value, p >= value.Length ? "a clause has no operator (+, - or =)" : $"'{value[p]}' is not u, g, o, a, +, - or =", span);
            while (p < value.Length && value[p] is '+' or '-' or '=')
            {
                char op = value[p++];
                int bits = 0;
                var kind = Kind.Ordinary;
                if (p < value.Length && value[p] is 'u' or 'g' or 'o')
                {
                    bits = value[p++] switch { 'u' => UserBits, 'g' => GroupBits, _ => OtherBits };
                    kind = Kind.CopyExisting;
                }
                else
                {
                    for (; p < value.Length && value[p] is 'r' or 'w' or 'x' or 'X' or 's' or 't'; p++)
                        switch (value[p])
                        {
                            case 'r': bits |= Read; break;
                            case 'w': bits |= Write; break;
                            case 'x': bits |= Execute; break;
                            case 's': bits |= SetUid | SetGid; break;
                            case 't': bits |= Sticky; break;
                            default: kind = Kind.ExecuteIfAny; break;
                        }
                }
                changes.Add(new Change(op, kind, affected, bits, affected != 0 ? affected & bits : bits));
            }
            if (p == value.Length) break;
            if (value[p] != ',') throw Invalid(value, $"'{value[p]}' is not a permission (r, w, x, X, s, t) or a copy (u, g, o)", span);
            p++;
        }
        return new ChmodSpec(value, null, changes);
    }

    /// <summary>
    /// The mode (permission bits with setuid, setgid and sticky) an entry with <paramref name="mode"/> gets;
    /// <paramref name="isDirectory"/> matters to <c>X</c> and to the setuid and setgid bits of a symbolic spec.
    /// </summary>
    public int Apply(int mode, bool isDirectory)
    {
        if (_octal is { } octal) return octal;
        int result = mode & All;
        foreach (var change in _changes)
        {
            int omit = (isDirectory ? SetUid | SetGid : 0) & ~change.Mentioned;
            int value = change.Value;
            switch (change.Kind)
            {
                case Kind.CopyExisting:
                    value &= result;
                    value |= ((value & Read) != 0 ? Read : 0) | ((value & Write) != 0 ? Write : 0) | ((value & Execute) != 0 ? Execute : 0);
                    break;
                case Kind.ExecuteIfAny:
                    if ((result & Execute) != 0 || isDirectory) value |= Execute;
                    break;
            }
            value &= (change.Affected != 0 ? change.Affected : All) & ~omit;
            switch (change.Op)
            {
                case '=':
                    int preserved = (change.Affected != 0 ? ~change.Affected : 0) | omit;
                    result = (result & preserved) | value;
                    break;
                case '+':
                    result |= value;
                    break;
                default:
                    result &= ~value;
                    break;
            }
        }
        return result & All;
    }

    public override string ToString() => Text;

    private static LivrableException Invalid(string value, string why, SourceSpan span)
        => new(DiagnosticCodes.InvalidChmod,
            $"--chmod={value} is not a mode: {why}. Give an octal mode up to 07777 (755, 0644) or a symbolic one (u=rwX,go=rX, +x).", span);
}
