using Livrable.Diagnostics;
using Xunit;

namespace Livrable.Tests.Hostile;

public sealed class HostileCodesTests
{
    [Fact]
    public void Hostile_input_codes_are_distinct_known_and_in_their_ranges()
    {
        string[] codes =
        [
            DiagnosticCodes.WhiteoutNamedSource, DiagnosticCodes.DocumentTooLarge, DiagnosticCodes.InvalidWhiteout,
            DiagnosticCodes.LayerTooLarge, DiagnosticCodes.ArchiveWhiteoutEntry, DiagnosticCodes.RunWhiteoutName,
            DiagnosticCodes.DuplicateJsonKey,
        ];
        Assert.Equal(codes.Length, codes.Distinct().Count());
        Assert.All(codes, code => Assert.True(DiagnosticCodes.IsKnown(code)));
        Assert.All(codes, code => Assert.True(int.Parse(code[3..]) is >= 1200 and <= 1219 or >= 4200 and <= 4229 or >= 9100 and <= 9109, code));
    }
}
