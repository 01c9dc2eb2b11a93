namespace JobService.Handlers;

/// <summary>Fails the job at once, whatever attempts are left: retrying cannot help.</summary>
public sealed class NonRetryableJobException(string message, Exception? inner = null) : Exception(message, inner);
