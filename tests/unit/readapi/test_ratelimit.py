from readapi.ratelimit import RateLimiter


def test_limit_then_reset_next_hour():
    limiter = RateLimiter()
    t = 7200.0 + 10
    quotas = [limiter.hit("k", 3, t) for _ in range(4)]
    assert [q.allowed for q in quotas] == [True, True, True, False]
    assert [q.remaining for q in quotas] == [2, 1, 0, 0]
    assert quotas[0].reset_epoch_s == 10800
    assert quotas[0].headers()["X-RateLimit-Limit"] == "3"
    assert limiter.hit("k", 3, 10800.0).allowed
    assert limiter.hit("other", 3, t).remaining == 2
