package bybit

import (
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

// Sign is sign, for the signature tests.
var Sign = sign

// Classify runs the client's classification of one answer.
func (c *Client) Classify(a rest.Answer) scheduler.Outcome {
	var out scheduler.Outcome
	out.Status = a.Status
	c.classifyAnswer(a, &out)
	return out
}

// CodeClass is the class of a retCode, for the table test.
func CodeClass(code int, write bool) (scheduler.Class, bool) {
	_, ok := codeTable[code]
	return classifyCode(code, write), ok
}

// NotFoundCode reports whether a cancel answered with code means "not open".
func NotFoundCode(code int) bool { return notFoundCodes[code] }
