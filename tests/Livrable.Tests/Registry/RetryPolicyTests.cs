using System.Net;
using Livrable.Registry;
using Xunit;

namespace Livrable.Tests.Registry;

/// <summary>When a failed registry request is tried again, and how long is waited.</summary>
public sealed class RetryPolicyTests
{
    [Theory]
    [InlineData(HttpStatusCode.RequestTimeout, true)]
    [InlineData(HttpStatusCode.TooManyRequests, true)]
    [InlineData(HttpStatusCode.InternalServerError, true)]
    [InlineData(HttpStatusCode.BadGateway, true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, true)]
    [InlineData(HttpStatusCode.GatewayTimeout, true)]
    [InlineData(HttpStatusCode.NotImplemented, false)]
    [InlineData(HttpStatusCode.HttpVersionNotSupported, false)]
    [InlineData(HttpStatusCode.NotFound, false)]
    [InlineData(HttpStatusCode.Unauthorized, false)]
    [InlineData(HttpStatusCode.BadRequest, false)]
    public void Transient_statuses_are_408_429_and_5xx_but_501_and_505(HttpStatusCode status, bool transient)
        => Assert.Equal(transient, RetryPolicy.IsTransient(status));

    [Fact]
    public void Delays_double_with_jitter_in_their_upper_half_and_are_capped()
    {
        var policy = new RetryPolicy { MaxAttempts = 20, BaseDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromSeconds(1), MaxTotalDelay = TimeSpan.FromHours(1) };
        for (int i = 0; i < 200; i++)
        {
            Assert.InRange(policy.NextDelay(1, TimeSpan.Zero)!.Value.TotalMilliseconds, 50, 100);
            Assert.InRange(policy.NextDelay(2, TimeSpan.Zero)!.Value.TotalMilliseconds, 100, 200);
            Assert.InRange(policy.NextDelay(3, TimeSpan.Zero)!.Value.TotalMilliseconds, 200, 400);
            Assert.InRange(policy.NextDelay(15, TimeSpan.Zero)!.Value.TotalMilliseconds, 500, 1000);
        }
        // Jitter: 200 draws are not all the same.
        Assert.True(Enumerable.Range(0, 200).Select(_ => policy.NextDelay(3, TimeSpan.Zero)).Distinct().Count() > 1);
    }

    [Fact]
    public void Retry_After_is_honoured_up_to_the_largest_delay()
    {
        var policy = new RetryPolicy { MaxDelay = TimeSpan.FromSeconds(10) };
        Assert.Equal(TimeSpan.FromSeconds(3), policy.NextDelay(1, TimeSpan.Zero, TimeSpan.FromSeconds(3)));
        Assert.Equal(TimeSpan.FromSeconds(10), policy.NextDelay(1, TimeSpan.Zero, TimeSpan.FromMinutes(5)));
        Assert.Equal(TimeSpan.Zero, policy.NextDelay(1, TimeSpan.Zero, TimeSpan.FromSeconds(-4)));

        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        response.Headers.Add("Retry-After", "7");
        Assert.Equal(TimeSpan.FromSeconds(7), RetryPolicy.RetryAfter(response));
    }

    [Fact]
    public void Attempts_and_the_total_delay_are_bounded()
    {
        var policy = new RetryPolicy { MaxAttempts = 3, BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(1), MaxTotalDelay = TimeSpan.FromSeconds(5) };
        Assert.NotNull(policy.NextDelay(2, TimeSpan.Zero));
        Assert.Null(policy.NextDelay(3, TimeSpan.Zero));
        Assert.Null(policy.NextDelay(1, TimeSpan.FromSeconds(4.5), TimeSpan.FromSeconds(1)));
        Assert.NotNull(policy.NextDelay(1, TimeSpan.FromSeconds(3.5), TimeSpan.FromSeconds(1)));
    }
}
