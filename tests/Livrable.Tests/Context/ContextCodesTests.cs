using Livrable.Diagnostics;
using Xunit;

namespace Livrable.Tests.Context;

public sealed class ContextCodesTests
{
    [Fact]
    public void Expansion_and_context_codes_are_distinct_and_in_their_range()
    {
        string[] codes =
        [
            DiagnosticCodes.ExpansionSyntax, DiagnosticCodes.ExpansionUnsupportedModifier, DiagnosticCodes.ExpansionInvalidPattern,
            DiagnosticCodes.ExpansionRequiredVariable, DiagnosticCodes.ContextSourceNotFound, DiagnosticCodes.ContextSymlinkEscape,
            DiagnosticCodes.InvalidIgnorePattern, DiagnosticCodes.InvalidSourcePattern, DiagnosticCodes.ContextUnreadable,
        ];
        Assert.Equal(codes.Length, codes.Distinct().Count());
        Assert.All(codes, code => Assert.InRange(int.Parse(code[3..]), 1050, 1079));
        Assert.All(codes, code => Assert.True(DiagnosticCodes.IsKnown(code)));
    }
}
