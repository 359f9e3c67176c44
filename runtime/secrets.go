package runtime

import (
	"net/url"
	"strings"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/internal/redact"
)

// registerSecrets gives internal/redact the secret values of this configuration as soon as
// it is decoded, so that from then on they are masked literally wherever text leaves the
// process (logs, errors, the kill-switch reason, /status), besides redact's patterns: the
// adapter's credentials (adapters.Secrets: its rest.Secret fields and SecretHolder) and the
// store's password.
func (c *Config) registerSecrets() {
	redact.Add(adapters.Secrets(c.Exchange.Adapter)...)
	redact.Add(storePassword(c.Store.URL))
	redact.Add(c.Notify.secrets()...)
	redact.Add(string(c.Admin.Token))
}

// storePassword is the password in a store URL; for a URL that does not parse, the text
// between the user name's ':' and the last '@', which is what redact.URL masks.
func storePassword(s string) string {
	if u, err := url.Parse(s); err == nil {
		if u.User == nil {
			return ""
		}
		p, _ := u.User.Password()
		return p
	}
	rest := s
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, pass, _ := strings.Cut(rest[:at], ":")
	return pass
}
