// Package redact masks secrets in text that leaves the process: log lines, errors, the kill
// switch's reason, the admin server's /status.
//
// Two mechanisms, one function. Patterns catch what looks like a secret whatever its value
// (a "signature=" or "X-MBX-APIKEY:" value, a bare run of 32 key characters); values catch
// the secrets this process was configured with, literally, however short and wherever they
// appear (an exchange that echoes a 24-character key in its error message, a Redis password
// in a URL that did not parse). The runtime registers its values with Add when it has
// decoded its configuration; String applies both, Values only the registered values (for
// whole documents, such as a log line, where the patterns would blank ordinary ids), and
// Writer applies Values to everything written through it.
//
// The registry is process-wide and only grows: a process serves one configuration, and a
// value masked in text that never held it costs nothing.
package redact
