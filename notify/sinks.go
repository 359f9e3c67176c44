package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/keelbot/keel/internal/redact"
)

// httpSink POSTs a JSON body built from each message.
type httpSink struct {
	name   string
	target string // the full URL: a credential for Slack and Telegram, never printed
	client *http.Client
	body   func(Message) any
}

func (s *httpSink) Name() string { return s.name }

func (s *httpSink) Send(ctx context.Context, m Message) error {
	b, err := json.Marshal(s.body(m))
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target, bytes.NewReader(b))
	if err != nil {
		return errors.New(s.name + ": cannot build the request") // the error would quote the URL
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error quotes the whole URL, token and all
		}
		return fmt.Errorf("%s: %s", s.name, redact.String(err.Error()))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %d: %s", s.name, resp.StatusCode, redact.String(strings.TrimSpace(string(snippet))))
	}
	return nil
}

// hostOf is the host of a URL, for a sink's name; "" if it does not parse.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// client returns c, or a client that follows no redirect (a redirect would carry the body,
// and for Telegram the token in the path, to another host) when c is nil.
func client(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Webhook POSTs each Message as JSON (the Message's fields, plus "text": Text()) to url.
// Any 2xx is success. c may be nil.
func Webhook(rawURL string, c *http.Client) (Sink, error) {
	if err := checkURL("webhook", rawURL); err != nil {
		return nil, err
	}
	return &httpSink{name: "webhook " + hostOf(rawURL), target: rawURL, client: client(c), body: func(m Message) any {
		return struct {
			Message
			Text string `json:"text"`
		}{m, m.Text()}
	}}, nil
}

// Slack POSTs {"text": ...} to a Slack incoming webhook URL (https://hooks.slack.com/services/...,
// whose path is the credential). c may be nil.
func Slack(webhookURL string, c *http.Client) (Sink, error) {
	if err := checkURL("slack", webhookURL); err != nil {
		return nil, err
	}
	return &httpSink{name: "slack " + hostOf(webhookURL), target: webhookURL, client: client(c), body: func(m Message) any {
		return map[string]string{"text": m.Text()}
	}}, nil
}

// Telegram sends each message with the Bot API's sendMessage (POST
// <apiURL>/bot<token>/sendMessage, {"chat_id", "text"}). apiURL is https://api.telegram.org
// unless a test or a proxy says otherwise. c may be nil.
func Telegram(apiURL, token, chatID string, c *http.Client) (Sink, error) {
	if apiURL == "" {
		apiURL = "https://api.telegram.org"
	}
	if err := checkURL("telegram", apiURL); err != nil {
		return nil, err
	}
	if token == "" || chatID == "" {
		return nil, errors.New("notify: telegram needs a bot token and a chat id")
	}
	target := strings.TrimRight(apiURL, "/") + "/bot" + token + "/sendMessage"
	return &httpSink{name: "telegram " + hostOf(apiURL), target: target, client: client(c), body: func(m Message) any {
		return map[string]string{"chat_id": chatID, "text": m.Text()}
	}}, nil
}

// checkURL refuses what is not an absolute http(s) URL, without quoting it (it may hold a
// credential).
func checkURL(kind, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("notify: %s: want an http(s) URL with a host (the value is not shown: it may hold a credential)", kind)
	}
	return nil
}
