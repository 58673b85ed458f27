using Livrable.Build.Cache;

namespace Livrable.Build;

/// <summary>
/// What a recipe's builder made for one platform: the image (not stored or written yet), the <c>[k/n]</c> step the
/// writing continues from and the total, and the step cache records the build used or made (what
/// <c>ContainerCacheTo</c> exports).
/// </summary>
internal sealed record BuiltRecipe(BuiltImage Image, int NextStep, int TotalSteps, IReadOnlyCollection<StepRecord> Records);
