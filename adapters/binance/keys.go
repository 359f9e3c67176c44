package binance

import (
	"context"
	"encoding/json"

	"github.com/keelbot/keel/adapters"
)

var _ adapters.KeyInspector = (*Client)(nil)

// KeyPermissions reads the API key's scopes from GET /sapi/v1/account/apiRestrictions
// (weight 1, background priority): trading (enableSpotAndMarginTrading), withdrawals
// (enableWithdrawals), IP restriction (ipRestrict); the key type is the signer this client
// uses.
func (c *Client) KeyPermissions(ctx context.Context, opts ...adapters.CallOption) (adapters.KeyPermissions, error) {
	p, err := fetch(ctx, c, epKeyScopes, nil, 0, opts, parseKeyScopes)
	if err != nil {
		return p, err
	}
	if c.signer != nil {
		p.KeyType = c.signer.kind()
	}
	return p, nil
}

// parseKeyScopes decodes apiRestrictions. The three scopes a check depends on must be
// present: a missing one is not "false".
func parseKeyScopes(body []byte) (adapters.KeyPermissions, error) {
	var v struct {
		IPRestrict        *bool `json:"ipRestrict"`
		EnableWithdrawals *bool `json:"enableWithdrawals"`
		EnableSpot        *bool `json:"enableSpotAndMarginTrading"`
		CreateTime        int64 `json:"createTime"`
		TradingExpires    int64 `json:"tradingAuthorityExpirationTime"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return adapters.KeyPermissions{}, malformed("apiRestrictions", err)
	}
	if v.IPRestrict == nil || v.EnableWithdrawals == nil || v.EnableSpot == nil {
		return adapters.KeyPermissions{}, malformed("apiRestrictions: ipRestrict, enableWithdrawals or enableSpotAndMarginTrading missing", nil)
	}
	return adapters.KeyPermissions{CanTrade: *v.EnableSpot, CanWithdraw: *v.EnableWithdrawals, IPRestricted: *v.IPRestrict,
		Created: millis(v.CreateTime), TradingExpires: millis(v.TradingExpires)}, nil
}
