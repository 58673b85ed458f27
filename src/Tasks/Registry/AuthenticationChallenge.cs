namespace Livrable.Registry;

/// <summary>
/// One challenge of a <c>WWW-Authenticate</c> header (RFC 7235): a scheme and its parameters. Registries send
/// <c>Bearer realm="...",service="...",scope="..."</c> (the token flow of
/// https://distribution.github.io/distribution/spec/auth/token/) or <c>Basic realm="..."</c>.
/// </summary>
public sealed record AuthenticationChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    /// <summary>Whether this is the token flow.</summary>
    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether this is HTTP Basic.</summary>
    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    /// <summary>The token endpoint (Bearer) or realm name (Basic).</summary>
    public string? Realm => Parameters.TryGetValue("realm", out var v) ? v : null;

    /// <summary>The <c>service</c> to ask a token for.</summary>
    public string? Service => Parameters.TryGetValue("service", out var v) ? v : null;

    /// <summary>The scope the registry said the request needs, space separated when several.</summary>
    public string? Scope => Parameters.TryGetValue("scope", out var v) ? v : null;

    /// <summary>
    /// Parses the challenges of one header value. Quoted strings may contain commas and escaped quotes; parameter
    /// names are case-insensitive. Returns an empty list for an empty or unparseable header.
    /// </summary>
    public static IReadOnlyList<AuthenticationChallenge> Parse(string? header)
    {
        var result = new List<AuthenticationChallenge>();
        if (string.IsNullOrWhiteSpace(header)) return result;
        int i = 0;
        string? scheme = null;
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (i < header.Length)
        {
            SkipSeparators(header, ref i);
            if (i >= header.Length) break;
            string token = ReadToken(header, ref i);
            if (token.Length == 0) { i++; continue; }
            SkipSpaces(header, ref i);
            if (i < header.Length && header[i] == '=')
            {
                // name=value: a parameter of the current scheme (or a token68 like "Basic abc=", ignored).
                i++;
                SkipSpaces(header, ref i);
                string value = i < header.Length && header[i] == '"' ? ReadQuoted(header, ref i) : ReadToken(header, ref i);
                if (scheme is not null) parameters[token] = value;
            }
            else
            {
                if (scheme is not null) result.Add(new AuthenticationChallenge(scheme, parameters));
                scheme = token;
                parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            }
        }
        if (scheme is not null) result.Add(new AuthenticationChallenge(scheme, parameters));
        return result;
    }

    private static void SkipSpaces(string s, ref int i)
    {
        while (i < s.Length && s[i] is ' ' or '\t') i++;
    }

    private static void SkipSeparators(string s, ref int i)
    {
        while (i < s.Length && s[i] is ' ' or '\t' or ',') i++;
    }

    private static string ReadToken(string s, ref int i)
    {
        int start = i;
        while (i < s.Length && s[i] is not (' ' or '\t' or ',' or '=' or '"')) i++;
        return s[start..i];
    }

    private static string ReadQuoted(string s, ref int i)
    {
        var sb = new System.Text.StringBuilder();
        i++; // opening quote
        while (i < s.Length && s[i] != '"')
        {
            if (s[i] == '\\' && i + 1 < s.Length) i++;
            sb.Append(s[i++]);
        }
        i++; // closing quote
        return sb.ToString();
    }
}
