using System.Text;
using Livrable.Images;
using Xunit;

namespace Livrable.Tests.Images;

/// <summary>
/// The config bytes <see cref="ImageConfig"/> writes, pinned: an image's digest is made of them, so a change in how a
/// value is written (escaping, number form, property order) changes every image built from then on. Diff ids and
/// history entries are added both to an empty config and to a base config as read, keeping the base's order first.
/// </summary>
public sealed class ImageConfigTests
{
    private static readonly Digest BaseDiffId = Digest.Sha256(Encoding.UTF8.GetBytes("base"));
    private static readonly Digest NewDiffId = Digest.Sha256(Encoding.UTF8.GetBytes("layer"));
    private static readonly DateTimeOffset Epoch = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    // HTML-sensitive characters and non-ASCII stay as they are (Go's encoding/json without HTML escaping); quotes and
    // control characters are escaped.
    private const string CreatedBy = "COPY a<b>&'c' é \"d\"\t /data # buildkit";

    [Fact]
    public void ALayerAddedToAnEmptyConfigWritesTheseBytes()
    {
        var config = ImageConfig.Empty(new Platform("linux", "amd64"));
        config.AddLayer(NewDiffId, new HistoryEntry(Epoch, CreatedBy, "a comment"));
        config.AddHistory(new HistoryEntry(Epoch, "ENV A=1", EmptyLayer: true));

        Assert.Equal(
            "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + NewDiffId + "\"]}," +
            "\"history\":[{\"created\":\"2023-11-14T22:13:20Z\",\"created_by\":\"COPY a<b>&'c' é \\\"d\\\"\\t /data # buildkit\",\"comment\":\"a comment\"}," +
            "{\"created\":\"2023-11-14T22:13:20Z\",\"created_by\":\"ENV A=1\",\"empty_layer\":true}]}",
            Encoding.UTF8.GetString(config.ToBytes()));
    }

    [Fact]
    public void ALayerAddedToABaseConfigKeepsTheBaseBytesAndOrder()
    {
        string baseJson = "{\"os\":\"linux\",\"architecture\":\"arm64\",\"config\":{\"Env\":[\"PATH=/bin\"],\"Healthcheck\":{\"Test\":[\"NONE\"]}}," +
            "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + BaseDiffId + "\"]},\"history\":[{\"created_by\":\"base\"}]}";
        var config = ImageConfig.Parse(Encoding.UTF8.GetBytes(baseJson)).Clone();
        config.AddLayer(NewDiffId, new HistoryEntry(null, CreatedBy));

        Assert.Equal(
            "{\"os\":\"linux\",\"architecture\":\"arm64\",\"config\":{\"Env\":[\"PATH=/bin\"],\"Healthcheck\":{\"Test\":[\"NONE\"]}}," +
            "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + BaseDiffId + "\",\"" + NewDiffId + "\"]}," +
            "\"history\":[{\"created_by\":\"base\"},{\"created_by\":\"COPY a<b>&'c' é \\\"d\\\"\\t /data # buildkit\"}]}",
            Encoding.UTF8.GetString(config.ToBytes()));
        Assert.Equal([BaseDiffId, NewDiffId], config.DiffIds);
    }
}
