namespace JobService;

public static class TextClip
{
    /// <summary>
    /// At most <paramref name="max"/> characters: a longer text is cut and ends with "…", never
    /// between the two halves of a surrogate pair (half a pair is no text the database can store).
    /// </summary>
    public static string Clip(this string s, int max)
    {
        if (s.Length <= max) return s;
        var cut = max - 1;
        if (cut > 0 && char.IsHighSurrogate(s[cut - 1])) cut--;
        return s[..cut] + "…";
    }
}
