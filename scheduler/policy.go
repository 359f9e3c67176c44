package scheduler

// The policy table of docs/architecture.md, in code:
//
//	class       retries                       breaker                      also
//	auth        0                             opens on the first failure   auth-failure hook (kill switch);
//	                                          (cancels pass, one at a      failures of cancels still count
//	                                          time per bucket)
//	rate_limit  Retries.RateLimit (2)         3 consecutive; 418 for its   bucket paused until Retry-After
//	                                          whole Retry-After (without   (or RateLimitPause); AIMD halves;
//	                                          one BanPause, doubling)      order-count refusals hold new
//	                                                                       orders only, not cancels
//	transient   Retries.Transient (2), reads; 5 consecutive or >= 50%      backoff with full jitter
//	            writes only when RetrySafe    over >= 10 calls in 30s
//	            proves the try did not land
//	validation  0                             counts as a success          -
//	unknown     like transient writes         counts as transient          returned as ErrUnknownOutcome
//
// Every retry also needs the global retry budget and must fit in the request's time budget.

// Classify returns the failure class of an attempt's outcome: the adapter's Class when it set
// one, otherwise a class from the HTTP status alone (429 and 418 rate_limit, 401 and 403 auth,
// 5xx or a transport error transient, other 4xx validation, 2xx success). An outcome that is
// none of those (no status and no error, a 1xx or a 3xx) is not proof of success: transient.
// A transient failure of a write is ClassUnknown: it may have landed.
func Classify(o Outcome, write bool) Class {
	c := o.Class
	if c == ClassNone {
		switch {
		case o.Ban, o.Status == 429, o.Status == 418:
			c = ClassRateLimit
		case o.Status == 401, o.Status == 403:
			c = ClassAuth
		case o.Status >= 500:
			c = ClassTransient
		case o.Status >= 400:
			c = ClassValidation
		case o.Err == nil && o.Status >= 200 && o.Status < 300:
			// success
		default:
			c = ClassTransient
		}
	}
	switch {
	case c == ClassTransient && write:
		return ClassUnknown
	case c == ClassUnknown && !write:
		return ClassTransient // a read has no effect to be unknown about
	}
	return c
}

// retryLimit returns how many retries class c allows.
func (c Config) retryLimit(class Class) int {
	switch class {
	case ClassRateLimit:
		return max(0, c.Retries.RateLimit)
	case ClassTransient, ClassUnknown:
		return max(0, c.Retries.Transient)
	}
	return 0
}

// retryClass is the retry counter a class spends: unknown outcomes retried after RetrySafe
// spend the transient ones.
func retryClass(c Class) Class {
	if c == ClassUnknown {
		return ClassTransient
	}
	return c
}

// message returns the outcome's error message, redacted: the exchange's message, else the
// transport error.
func message(o Outcome) string {
	switch {
	case o.Message != "":
		return Redact(o.Message)
	case o.Err != nil:
		return Redact(o.Err.Error())
	}
	return ""
}
