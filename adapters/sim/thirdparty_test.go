package sim_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	gobinance "github.com/adshao/go-binance/v2"
	"github.com/adshao/go-binance/v2/common"

	"github.com/keelbot/keel/adapters/sim"
)

// TestThirdPartyClient drives the simulator with an unmodified third-party Binance client
// (github.com/adshao/go-binance), with an HMAC key and with an Ed25519 key: if the simulator's
// dialect drifted from Binance's (paths, parameters, signing, JSON shapes, error bodies), a
// client written against the real exchange would notice here.
func TestThirdPartyClient(t *testing.T) {
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		t.Fatal(err)
	}
	edPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))

	srv := listen(t, sim.Config{Seed: 5, Accounts: []sim.Account{
		{APIKey: "hmac-key", HMACSecret: "hmac-secret"},
		{APIKey: "ed-key", Ed25519PublicKey: edPub},
	}})

	for _, tc := range []struct {
		name, key, secret, keyType string
	}{
		{"hmac", "hmac-key", "hmac-secret", common.KeyTypeHmac},
		{"ed25519", "ed-key", edPEM, common.KeyTypeEd25519},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := gobinance.NewClient(tc.key, tc.secret)
			c.KeyType = tc.keyType
			c.BaseURL = srv.URL()

			if err := c.NewPingService().Do(ctx); err != nil {
				t.Fatalf("ping: %v", err)
			}
			if _, err := c.NewSetServerTimeService().Do(ctx); err != nil {
				t.Fatalf("server time: %v", err)
			}
			info, err := c.NewExchangeInfoService().Symbol("BTCUSDT").Do(ctx)
			if err != nil || len(info.Symbols) != 1 || info.Symbols[0].PriceFilter() == nil || info.Symbols[0].LotSizeFilter() == nil {
				t.Fatalf("exchange info: %v %+v", err, info)
			}
			book, err := c.NewDepthService().Symbol("BTCUSDT").Limit(5).Do(ctx)
			if err != nil || len(book.Bids) != 5 || len(book.Asks) != 5 || book.LastUpdateID == 0 {
				t.Fatalf("depth: %v %+v", err, book)
			}

			clientID := "tp-" + tc.name
			placed, err := c.NewCreateOrderService().Symbol("BTCUSDT").Side(gobinance.SideTypeBuy).
				Type(gobinance.OrderTypeLimit).TimeInForce(gobinance.TimeInForceTypeGTC).
				Quantity("0.001").Price("30000").NewClientOrderID(clientID).Do(ctx)
			if err != nil || placed.ClientOrderID != clientID || placed.Status != gobinance.OrderStatusTypeNew {
				t.Fatalf("create order: %v %+v", err, placed)
			}
			got, err := c.NewGetOrderService().Symbol("BTCUSDT").OrigClientOrderID(clientID).Do(ctx)
			if err != nil || got.OrderID != placed.OrderID || got.Price != "30000.00000000" {
				t.Fatalf("get order: %v %+v", err, got)
			}
			open, err := c.NewListOpenOrdersService().Symbol("BTCUSDT").Do(ctx)
			if err != nil || len(open) != 1 || open[0].ClientOrderID != clientID {
				t.Fatalf("open orders: %v %+v", err, open)
			}
			// A live client order id again: Binance's -2010, as an APIError the client decodes.
			_, err = c.NewCreateOrderService().Symbol("BTCUSDT").Side(gobinance.SideTypeBuy).
				Type(gobinance.OrderTypeLimit).TimeInForce(gobinance.TimeInForceTypeGTC).
				Quantity("0.001").Price("30000").NewClientOrderID(clientID).Do(ctx)
			var apiErr *common.APIError
			if !errors.As(err, &apiErr) || apiErr.Code != -2010 || apiErr.Message != "Duplicate order sent." {
				t.Fatalf("duplicate order: %v", err)
			}
			cancelled, err := c.NewCancelOrderService().Symbol("BTCUSDT").OrigClientOrderID(clientID).Do(ctx)
			if err != nil || cancelled.Status != gobinance.OrderStatusTypeCanceled {
				t.Fatalf("cancel: %v %+v", err, cancelled)
			}
			acct, err := c.NewGetAccountService().Do(ctx)
			if err != nil || !acct.CanTrade || len(acct.Balances) == 0 {
				t.Fatalf("account: %v %+v", err, acct)
			}
			if _, err := c.NewListTradesService().Symbol("BTCUSDT").Do(ctx); err != nil {
				t.Fatalf("my trades: %v", err)
			}
			// A wrong signature: -1022, decoded by the client.
			bad := gobinance.NewClient(tc.key, "not-the-secret")
			bad.BaseURL = srv.URL()
			if _, err := bad.NewGetAccountService().Do(ctx); !errors.As(err, &apiErr) || apiErr.Code != -1022 {
				t.Fatalf("bad signature: %v", err)
			}
		})
	}
}
