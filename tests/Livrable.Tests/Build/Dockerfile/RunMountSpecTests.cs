using Livrable.Build.Dockerfile;
using Livrable.Diagnostics;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary><c>RUN --mount</c> values parsed as BuildKit's <c>commands_runmount.go</c> does (the checklist's RUN section).</summary>
public sealed class RunMountSpecTests
{
    private static readonly SourceSpan Span = new("/src/Dockerfile", 3, 1);

    [Fact]
    public void Bind_is_the_default_type_and_read_only_by_default()
    {
        var spec = RunMountSpec.Parse("target=/src,source=app", "/", Span, v => v);
        Assert.Equal(("bind", "/src", "app", true), (spec.Type, spec.Target, spec.Source, spec.ReadOnly));
        Assert.False(RunMountSpec.Parse("type=bind,dst=/x,rw", "/", Span, v => v).ReadOnly);
        Assert.False(RunMountSpec.Parse("type=bind,destination=/x,readwrite=true", "/", Span, v => v).ReadOnly);
        Assert.True(RunMountSpec.Parse("TYPE=bind,Target=/x,RO", "/", Span, v => v).ReadOnly);
    }

    [Fact]
    public void A_relative_target_is_joined_with_WORKDIR_and_from_is_kept()
    {
        var spec = RunMountSpec.Parse("type=bind,from=build,src=/out,target=out/./bin", "/app", Span, v => v);
        Assert.Equal(("/app/out/bin", "build", "/out"), (spec.Target, spec.From, spec.Source));
        Assert.Equal("build", RunMountSpec.FromOf("type=bind,from=build,target=/x"));
        Assert.Null(RunMountSpec.FromOf("type=tmpfs,target=/x"));
    }

    [Theory]
    [InlineData("type=tmpfs,target=/t,size=64m", 64L << 20)]
    [InlineData("type=tmpfs,target=/t,size=1.5k", 1536L)]
    [InlineData("type=tmpfs,target=/t,size=100", 100L)]
    public void Tmpfs_sizes_take_units(string raw, long size)
    {
        var spec = RunMountSpec.Parse(raw, "/", Span, v => v);
        Assert.Equal(("tmpfs", size, false), (spec.Type, spec.Size!.Value, spec.ReadOnly));
    }

    [Theory]
    [InlineData("type=bind", "LIV5011")]
    [InlineData("type=bind,target=/", "LIV5011")]
    [InlineData("type=bind,target=/x,size=1m", "LIV5011")]
    [InlineData("type=tmpfs,target=/x,from=a", "LIV5011")]
    [InlineData("type=bind,target=/x,mode=0755", "LIV5011")]
    [InlineData("type=bind,target=/x,bogus", "LIV5011")]
    [InlineData("type=nonsense,target=/x", "LIV5011")]
    [InlineData("type=bind,\"target=/x", "LIV5011")]
    [InlineData("type=cache,target=/root/.cache,from=build", "LIV5012")]
    [InlineData("type=cache,target=/x,sharing=sometimes", "LIV5011")]
    [InlineData("type=cache,target=/x,mode=9", "LIV5011")]
    [InlineData("type=tmpfs,target=/x,uid=1", "LIV5011")]
    [InlineData("type=secret", "LIV5011")]
    [InlineData("type=secret,id=a,size=1", "LIV5011")]
    [InlineData("type=ssh", "LIV5012")]
    public void Malformed_or_unsupported_mounts_are_errors_at_the_RUN(string raw, string code)
    {
        var e = Assert.Throws<LivrableException>(() => RunMountSpec.Parse(raw, "/", Span, v => v));
        Assert.Equal(code, e.Code);
        Assert.Equal(Span, e.Span);
    }

    [Fact]
    public void Cache_mounts_take_an_id_sharing_mode_and_owner()
    {
        var spec = RunMountSpec.Parse("type=cache,target=/root/.cache", "/", Span, v => v);
        Assert.Equal(("cache", "/root/.cache", "shared", 0b111_101_101, false), (spec.Type, spec.Id, spec.Sharing, spec.Mode, spec.ReadOnly));
        spec = RunMountSpec.Parse("type=cache,id=pip,target=.cache,sharing=LOCKED,mode=0700,uid=1000,gid=1001", "/home/app", Span, v => v);
        Assert.Equal(("pip", "/home/app/.cache", "locked", 0b111_000_000, 1000L, 1001L), (spec.Id, spec.Target, spec.Sharing, spec.Mode, spec.Uid, spec.Gid));
    }

    [Fact]
    public void Secret_mounts_default_their_id_and_target_as_BuildKit()
    {
        var spec = RunMountSpec.Parse("type=secret,id=token", "/", Span, v => v);
        Assert.Equal(("token", "/run/secrets/token", 0b100_000_000, false), (spec.Id, spec.Target, spec.Mode, spec.Required));
        spec = RunMountSpec.Parse("type=secret,target=/etc/key.pem,required,mode=0440,uid=5", "/", Span, v => v);
        Assert.Equal(("key.pem", "/etc/key.pem", 0b100_100_000, true, 5L), (spec.Id, spec.Target, spec.Mode, spec.Required, spec.Uid));
        spec = RunMountSpec.Parse("type=secret,id=token,env=TOKEN", "/", Span, v => v);
        Assert.Equal(("token", "", "TOKEN"), (spec.Id, spec.Target, spec.Env));
    }

    [Fact]
    public void Quoted_fields_may_hold_commas()
    {
        var spec = RunMountSpec.Parse("type=bind,\"source=a,b\",target=/x", "/", Span, v => v);
        Assert.Equal("a,b", spec.Source);
    }

    [Theory]
    [InlineData("type=bind,source=\"a b\",target=/x", "failed to parse csv mounts: parse error on line 1, column 18: bare \" in non-quoted-field")]
    [InlineData("\"type=bind\"x,target=/x", "failed to parse csv mounts: parse error on line 1, column 11: extraneous or missing \" in quoted-field")]
    [InlineData("type=bind,\"target=/x", "failed to parse csv mounts: parse error on line 1, column 21: extraneous or missing \" in quoted-field")]
    [InlineData("type=cache,,target=/x", "invalid field '' must be a key=value pair")]
    public void Fields_split_as_go_csvvalue_does(string raw, string message)
    {
        // go-csvvalue: a quote opens a field only at its start; empty fields are kept (and are not key=value pairs).
        var e = Assert.Throws<LivrableException>(() => RunMountSpec.Parse(raw, "/", Span, v => v));
        Assert.Equal("LIV5011", e.Code);
        Assert.EndsWith(message, e.Message);
    }

    [Fact]
    public void Values_are_expanded_keys_are_not()
    {
        var env = new Dictionary<string, string> { ["DIR"] = "/cache/pip", ["KIND"] = "cache" };
        var spec = RunMountSpec.Parse("type=$KIND,target=${DIR},id=$KIND-1", "/", Span,
            v => new Livrable.Dockerfile.ShellExpander().ProcessWord(v, env, Span));
        Assert.Equal(("cache", "/cache/pip", "cache-1"), (spec.Type, spec.Target, spec.Id));
    }
}
