namespace JobService;

public static class TextClip
{
    /// <summary>At most <paramref name="max"/> characters: a longer text is cut and ends with "…".</summary>
    public static string Clip(this string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
}
