namespace Livrable.Tests.Infrastructure;

/// <summary>
/// Folders of test projects on src/Sdk's real props and targets, as a PackageReference gives them (nuget.g.props and
/// .targets import build/Livrable.Sdk.props|targets; here Directory.Build.props|targets do), with this test run's
/// copy of the task assembly in a task host (so MSBuild's node never keeps it loaded). An image project that imports
/// Sdk/Sdk.props|targets itself sets <c>UsingLivrableSdk</c>, and then these files import nothing twice.
/// </summary>
public static class SdkProjects
{
    /// <summary>The repository's src/Sdk.</summary>
    public static string SdkDirectory { get; } = Path.Combine(TestRepository.Root, "src", "Sdk");

    /// <summary>The task assembly next to the tests (the one they were built with).</summary>
    public static string TasksAssembly { get; } = Path.Combine(AppContext.BaseDirectory, "Livrable.Tasks.dll");

    /// <summary>
    /// Writes a tiny image project in <paramref name="folder"/> (<c>base.csproj</c>, tag <c>v1</c>) whose one layer is
    /// the file <paramref name="fileName"/> holding <paramref name="content"/> at <c>/</c>, published to the tarball
    /// <paramref name="tarball"/>: the base image of the up-to-date tests, made offline. Returns the project file.
    /// </summary>
    public static string WriteTarballBaseProject(string folder, string tarball, string fileName, string content)
    {
        Directory.CreateDirectory(Path.Combine(folder, "root"));
        File.WriteAllText(Path.Combine(folder, "root", fileName), content);
        string project = Path.Combine(folder, "base.csproj");
        File.WriteAllText(project, $"""
            <Project>
              <Import Project="{SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerTag>v1</ContainerTag>
                <ContainerArchiveOutputPath>{tarball}</ContainerArchiveOutputPath>
              </PropertyGroup>
              <ItemGroup>
                <ContainerLayer Include="root" Destination="/" />
              </ItemGroup>
              <Import Project="{SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        return project;
    }

    /// <summary>
    /// Writes <c>Directory.Build.props</c> and <c>Directory.Build.targets</c> into <paramref name="directory"/>:
    /// <paramref name="properties"/> (elements of a PropertyGroup, such as a state folder) set before the props, and
    /// <paramref name="targets"/> (whole elements) after the targets' import.
    /// </summary>
    public static void WriteDirectoryBuildFiles(string directory, string properties = "", string targets = "")
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "Directory.Build.props"), $"""
            <Project>
              <PropertyGroup>
                <LivrableTasksAssembly>{TasksAssembly}</LivrableTasksAssembly>
                <LivrableTasksUseTaskHost>true</LivrableTasksUseTaskHost>
                {properties}
              </PropertyGroup>
              <Import Project="{SdkDirectory}/build/Livrable.Sdk.props" Condition="'$(UsingLivrableSdk)' != 'true'" />
            </Project>
            """);
        File.WriteAllText(Path.Combine(directory, "Directory.Build.targets"), $"""
            <Project>
              <Import Project="{SdkDirectory}/build/Livrable.Sdk.targets" Condition="'$(UsingLivrableSdk)' != 'true'" />
              {targets}
            </Project>
            """);
    }
}
