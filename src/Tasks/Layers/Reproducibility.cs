namespace Livrable.Layers;

/// <summary>
/// The reproducibility rules' one knob: the time written everywhere. https://reproducible-builds.org/specs/source-date-epoch/
/// </summary>
public static class Reproducibility
{
    /// <summary>
    /// Used when SOURCE_DATE_EPOCH is not set: 1980-01-01T00:00:01Z. Not the Unix epoch, because zip-based tools
    /// and some tar readers treat 0 as "no time"; the same reason Bazel and Jib's fixed times are just past 1970/1980.
    /// </summary>
    public static readonly DateTimeOffset DefaultEpoch = new(1980, 1, 1, 0, 0, 1, TimeSpan.Zero);

    /// <summary>The epoch from a SOURCE_DATE_EPOCH value (seconds since 1970), or the default when empty.</summary>
    public static DateTimeOffset FromSourceDateEpoch(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return DefaultEpoch;
        if (!long.TryParse(value.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long seconds))
            throw new Diagnostics.LivrableException(Diagnostics.DiagnosticCodes.InvalidPropertyValue,
                $"SOURCE_DATE_EPOCH '{value}' is not a whole number of seconds since 1970-01-01.");
        return DateTimeOffset.FromUnixTimeSeconds(seconds);
    }
}
