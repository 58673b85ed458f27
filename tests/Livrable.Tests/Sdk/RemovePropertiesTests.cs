using System.Text.RegularExpressions;
using System.Xml.Linq;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Sdk;

/// <summary>
/// The global properties removed for the builds Livrable.Sdk.targets starts (issue 13, "one RemoveProperties list"):
/// each list is a property defined once, every MSBuild call that builds a project's publish names one of them, and the
/// lists for other projects and for this project's inner builds share the destination list, so a destination added
/// there (ContainerOciLayoutPath was missing from both copies of the reference list) reaches every call.
/// </summary>
public sealed class RemovePropertiesTests
{
    private static readonly XDocument Targets = XDocument.Load(Path.Combine(TestRepository.Root, "src", "Sdk", "build", "Livrable.Sdk.targets"));

    [Fact]
    public void EachListIsDefinedOnceAndEveryCallUsesOne()
    {
        var definitions = Targets.Descendants().Where(e => e.Name.LocalName.EndsWith("RemoveProperties", StringComparison.Ordinal)
                                                           && e.Parent?.Name.LocalName == "PropertyGroup").ToList();
        var names = definitions.Select(e => e.Name.LocalName).ToList();
        Assert.Equal(names.Distinct().Count(), names.Count);
        Assert.All(definitions, d => Assert.Equal("PropertyGroup", d.Parent!.Name.LocalName));
        Assert.All(definitions, d => Assert.Null(d.Ancestors().FirstOrDefault(a => a.Name.LocalName == "Target")));

        var calls = Targets.Descendants().Where(e => e.Name.LocalName == "MSBuild").ToList();
        Assert.True(calls.Count >= 6);
        foreach (var call in calls)
        {
            string? remove = call.Attribute("RemoveProperties")?.Value;
            if (remove is null)
            {
                // Only a call into this project's own private target, which starts the inner builds itself.
                Assert.StartsWith("_Livrable", call.Attribute("Targets")!.Value);
                continue;
            }
            var match = Regex.Match(remove, @"^\$\((_Livrable\w+RemoveProperties)\)$");
            Assert.True(match.Success, $"RemoveProperties=\"{remove}\" is not one of the lists");
            Assert.Contains(match.Groups[1].Value, names);
        }
    }

    [Theory]
    [InlineData("_LivrableReferenceRemoveProperties")]
    [InlineData("_LivrablePlatformRemoveProperties")]
    [InlineData("_LivrableVerifyRemoveProperties")]
    public void EveryListRemovesTheDestination(string list)
    {
        string value = Targets.Descendants().Single(e => e.Name.LocalName == list).Value;
        Assert.Contains("$(_LivrableDestinationProperties)", value);
        string destination = Targets.Descendants().Single(e => e.Name.LocalName == "_LivrableDestinationProperties").Value;
        foreach (string property in new[] { "ContainerRegistry", "LocalRegistry", "ContainerArchiveOutputPath", "ContainerOciLayoutPath", "$(_LivrableSupplyChainProperties)" })
            Assert.Contains(property, destination.Split(';'));
    }
}
