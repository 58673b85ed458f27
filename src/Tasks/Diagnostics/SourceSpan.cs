namespace Livrable.Diagnostics;

/// <summary>
/// A position in a source file (a Dockerfile), 1-based, so that MSBuild prints <c>File(line,col)</c> and IDEs jump to it.
/// </summary>
public readonly record struct SourceSpan(string File, int Line, int Column, int EndLine = 0, int EndColumn = 0)
{
    public override string ToString() => $"{File}({Line},{Column})";
}
