using System.ComponentModel.DataAnnotations;

namespace JobService.Api;

/// <summary>The <c>Api</c> section.</summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    /// <summary>Largest request body accepted; larger ones get 413. Default 1 MiB.</summary>
    [Range(1024, 100 * 1024 * 1024, ErrorMessage = "Api:MaxRequestBodyBytes must be between 1 KiB and 100 MiB.")]
    public int MaxRequestBodyBytes { get; set; } = 1024 * 1024;
}
