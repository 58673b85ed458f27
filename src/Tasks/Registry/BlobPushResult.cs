namespace Livrable.Registry;

/// <summary>How a blob came to be in the target repository.</summary>
public enum BlobPushResult
{
    /// <summary>The repository already had it (HEAD answered 200); nothing was sent.</summary>
    Existed,
    /// <summary>Mounted from another repository of the same registry; nothing was sent.</summary>
    Mounted,
    /// <summary>Its bytes were uploaded.</summary>
    Uploaded,
}
